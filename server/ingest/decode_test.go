package ingest

import (
	"strings"
	"testing"
)

func TestCountRecords(t *testing.T) {
	tests := []struct {
		body string
		want int
	}{
		{`{"v":1,"samples":[{"seq":1},{"seq":2,"icmp":{"sent":1}}],"events":[{"seq":3,"attrs":{"a":"{"}}]}`, 3},
		{`{"v":1,"samples":[]}`, 0},
		{`{"v":1,"probe":"{[{","samples":[{"target":"a\"},{"}]}`, 1},
		{`{"v":1,"samples":[[{"seq":1}]]}`, 0}, // not records: the decoder refuses them
		{`[{"seq":1}]`, 0},
	}
	for _, tt := range tests {
		if got := countRecords([]byte(tt.body), 10); got != tt.want {
			t.Errorf("countRecords(%s) = %d, want %d", tt.body, got, tt.want)
		}
	}
	many := `{"samples":[` + strings.Repeat(`{"seq":1},`, 100) + `{}]}`
	if got := countRecords([]byte(many), 10); got != 11 {
		t.Errorf("past the limit: %d, want it to stop at 11", got)
	}
}
