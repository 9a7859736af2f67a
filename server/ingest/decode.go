package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"

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
//
// goccy/go-json has panicked on malformed input: the fuzzer found a
// 15-byte body ({"":1,"village\ cut after the backslash) on which it read
// past its buffer, though not on every run (the input is kept in
// testdata/fuzz). A probe's body is hostile input, so a panic in the
// decoder is that body's fault and answered as invalid JSON.
func decode(body []byte) (r *jagadesa.Report, err error) {
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, jagadesa.Errorf(jagadesa.EInvalid, "report is not valid JSON")
		}
	}()
	c := &counter{limit: jagadesa.MaxRecordsPerReport}
	w := wireReport{Samples: samples{c: c}, Events: events{c: c}}
	if err := gojson.Unmarshal(body, &w); err != nil {
		if errors.Is(err, errTooManyRecords) {
			return nil, jagadesa.Errorf(jagadesa.ETooLarge, "more than %d records in one report", jagadesa.MaxRecordsPerReport)
		}
		return nil, jagadesa.Errorf(jagadesa.EInvalid, "report is not valid JSON: %s", JSONError(err))
	}
	r = &jagadesa.Report{Version: w.Version, Probe: w.Probe, Village: w.Village, SentAt: w.SentAt, Stream: w.Stream,
		Samples: w.Samples.list, Events: w.Events.list}
	detach(reflect.ValueOf(r).Elem())
	return r, nil
}

// detach gives every string of a decoded report memory of its own.
// goccy/go-json decodes strings without copying them out of its copy of
// the input, so one string kept from a report (a target's name in live
// status, a stream in the replay marks, a key of the baselines) kept the
// whole body alive: at national size 3.9 KB a village, 323 MB of a
// server's heap (heap profile of the national load run). A report's
// strings are few and short; cloning them costs less than that.
func detach(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		if v.Len() > 0 {
			v.SetString(strings.Clone(v.String()))
		}
	case reflect.Pointer:
		if !v.IsNil() {
			detach(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() {
				detach(f)
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes(bytes.Clone(v.Bytes())) // json.RawMessage and the like
			return
		}
		for i := range v.Len() {
			detach(v.Index(i))
		}
	case reflect.Map:
		if v.IsNil() || v.Len() == 0 {
			return
		}
		// Keys cannot be changed in place: the map is made again.
		m := reflect.MakeMapWithSize(v.Type(), v.Len())
		it := v.MapRange()
		for it.Next() {
			k := reflect.New(v.Type().Key()).Elem()
			k.Set(it.Key())
			detach(k)
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(it.Value())
			detach(e)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Interface:
		if !v.IsNil() {
			e := reflect.New(v.Elem().Type()).Elem()
			e.Set(v.Elem())
			detach(e)
			v.Set(e)
		}
	case reflect.Array:
		for i := range v.Len() {
			detach(v.Index(i))
		}
	}
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
