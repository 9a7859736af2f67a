package evidence

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jagadesa/jagadesa"
)

func TestAppendReadAndTornTail(t *testing.T) {
	a, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pub, key, _ := ed25519.GenerateKey(nil)
	day := time.Date(2026, 12, 7, 23, 59, 0, 0, time.UTC)
	for i, body := range []string{`{"v":1,"n":1}`, `{"v":1,"n":2}`} {
		r := &Record{Received: day, Probe: "p-1", Village: "33.06.08.2007", FirstSeq: uint64(i + 1), LastSeq: uint64(i + 1),
			KeyID: jagadesa.KeyID(pub), Signature: jagadesa.SignReport(key, []byte(body)), Body: []byte(body)}
		if err := a.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Append(&Record{Received: day, Village: "../../etc"}); err == nil {
		t.Fatal("a record with a bad village code was written")
	}
	path := a.Path("33.06.08.2007", day)
	if path != a.Dir+"/2026-12-07/33.06.08.2007.jsonl.gz" {
		t.Fatalf("path %s", path)
	}
	var n int
	if err := ReadFile(path, func(r *Record) error {
		n++
		return r.Verify(pub)
	}); err != nil || n != 2 {
		t.Fatalf("read %d records: %v", n, err)
	}
	// A crash in the middle of the last append: the first record still
	// reads and verifies; the torn one is named as such.
	fi, _ := os.Stat(path)
	if err := os.Truncate(path, fi.Size()-40); err != nil {
		t.Fatal(err)
	}
	n = 0
	err = ReadFile(path, func(r *Record) error {
		n++
		return r.Verify(pub)
	})
	if !errors.Is(err, ErrTorn) || n != 1 {
		t.Fatalf("torn file: %d records, err %v; want 1 and ErrTorn", n, err)
	}
	files, _ := a.Files("")
	if len(files) != 1 || files[0] != path {
		t.Fatalf("files %v", files)
	}
}

// The body comes back byte for byte, as a JSON string when it is UTF-8
// (HTML-sensitive and line-separator characters included) and as base64
// when it is not.
func TestBodyRoundTrip(t *testing.T) {
	for _, body := range [][]byte{
		[]byte(`{"v":1,"m":"<b>&amp;</b> \u2028 tab\t","x":"Desa Krandegan"}` + "\n"),
		[]byte("{\"v\":1,\"m\":\"\u2028\u2029 \x7f\"}"),
		{0xff, 0xfe, '{', '}'},
	} {
		line, err := json.Marshal(Record{Village: "33.06.08.2007", Body: body})
		if err != nil {
			t.Fatal(err)
		}
		var r Record
		if err := json.Unmarshal(line, &r); err != nil || !bytes.Equal(r.Body, body) || r.Village != "33.06.08.2007" {
			t.Fatalf("%q came back as %q (%v) via %s", body, r.Body, err, line)
		}
		if utf8.Valid(body) != bytes.Contains(line, []byte(`"body":`)) {
			t.Fatalf("%q stored as %s", body, line)
		}
	}
}
