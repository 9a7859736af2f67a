package ingest

import (
	"encoding/json"
	"errors"
	"strconv"

	gojson "github.com/goccy/go-json"

	"github.com/jagadesa/jagadesa"
)

// errTooManyRecords stops decoding at the first record past the limit, so
// a report of a million tiny records costs what 10,001 cost.
var errTooManyRecords = errors.New("too many records")

// wireReport is jagadesa.Report as the server decodes it: the record lists
// count what they decode against one limit shared by samples and events.
type wireReport struct {
	Version int     `json:"v"`
	Probe   string  `json:"probe"`
	Village string  `json:"village"`
	SentAt  int64   `json:"sent_ms"`
	Stream  string  `json:"stream"`
	Samples samples `json:"samples"`
	Events  events  `json:"events"`
}

type counter struct{ n, limit int }

type samples struct {
	list []jagadesa.Sample
	c    *counter
}

type events struct {
	list []jagadesa.Event
	c    *counter
}

func (s *samples) UnmarshalJSON(b []byte) error { return decodeList(b, &s.list, s.c) }
func (e *events) UnmarshalJSON(b []byte) error  { return decodeList(b, &e.list, e.c) }

// decodeList decodes one record list and counts it against the limit
// shared by samples and events. countRecords has already bounded how many
// objects the lists hold, so the list is decoded whole. (goccy/go-json's
// streaming Token reader was used here first; the fuzzer found inputs on
// which it panics, so it is not used on probe input.)
func decodeList[T any](b []byte, list *[]T, c *counter) error {
	if err := gojson.Unmarshal(b, list); err != nil {
		return err
	}
	if c.n += len(*list); c.n > c.limit {
		return errTooManyRecords
	}
	return nil
}

// countRecords counts the objects in the report's top-level arrays (the
// samples and the events) without decoding anything: one pass over the
// bytes, no allocation. It stops counting past limit.
func countRecords(body []byte, limit int) int {
	depth, n := 0, 0
	inString, escaped := false, false
	var stack [3]byte // the containers at depths 1..3, enough to tell a record
	for _, c := range body {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			if c == '{' && depth == 2 && stack[1] == '[' && stack[0] == '{' {
				if n++; n > limit {
					return n
				}
			}
			if depth < len(stack) {
				stack[depth] = c
			}
			depth++
		case '}', ']':
			if depth--; depth < 0 {
				return n // not JSON: the decoder says why
			}
		}
	}
	return n
}

// decode parses a report's JSON, counting records as it goes.
func decode(body []byte) (*jagadesa.Report, error) {
	c := &counter{limit: jagadesa.MaxRecordsPerReport}
	w := wireReport{Samples: samples{c: c}, Events: events{c: c}}
	if err := gojson.Unmarshal(body, &w); err != nil {
		if errors.Is(err, errTooManyRecords) {
			return nil, jagadesa.Errorf(jagadesa.ETooLarge, "more than %d records in one report", jagadesa.MaxRecordsPerReport)
		}
		return nil, jagadesa.Errorf(jagadesa.EInvalid, "report is not valid JSON: %s", JSONError(err))
	}
	return &jagadesa.Report{Version: w.Version, Probe: w.Probe, Village: w.Village, SentAt: w.SentAt, Stream: w.Stream,
		Samples: w.Samples.list, Events: w.Events.list}, nil
}

// decodedSize estimates the memory a decoded report holds, for the budget.
func decodedSize(r *jagadesa.Report) int64 {
	n := int64(256)
	for i := range r.Samples {
		s := &r.Samples[i]
		n += 160 + int64(len(s.Target))
		switch {
		case s.ICMP != nil:
			n += 96 + 8*int64(cap(s.ICMP.RTTsMs))
		case s.DNS != nil:
			n += 128 + int64(len(s.DNS.Resolver)+len(s.DNS.Error))
			for _, a := range s.DNS.Answers {
				n += 16 + int64(len(a))
			}
		case s.Heartbeat != nil, s.HTTP != nil, s.Throughput != nil, s.Outage != nil:
			n += 160
		}
	}
	for i := range r.Events {
		e := &r.Events[i]
		n += 128 + int64(len(e.Kind)+len(e.Message))
		for k, v := range e.Attrs {
			n += 64 + int64(len(k)+len(v))
		}
	}
	return n
}

// JSONError keeps a decoder's message short and free of Go type names,
// for either JSON decoder the server uses.
func JSONError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var gse *gojson.SyntaxError
	var gte *gojson.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return se.Error() + " at byte " + strconv.FormatInt(se.Offset, 10)
	case errors.As(err, &te):
		return "field " + te.Field + " has the wrong type (" + te.Value + ") at byte " + strconv.FormatInt(te.Offset, 10)
	case errors.As(err, &gse):
		return gse.Error()
	case errors.As(err, &gte):
		return "field " + gte.Field + " has the wrong type at byte " + strconv.FormatInt(gte.Offset, 10)
	}
	return "malformed report"
}
