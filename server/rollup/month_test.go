package rollup_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa/server/rollup"
	"github.com/jagadesa/jagadesa/server/sla"
)

// dayPoints writes avail_1d points as the Runner writes them (docs/rollups.md):
// per village and WIB day, the timeline as runs and the reference's figures.
type dayPoints struct {
	buf bytes.Buffer
	n   int
}

func (d *dayPoints) day(village string, day time.Time, timeline, rtt string) {
	fmt.Fprintf(&d.buf, "avail_1d,village=%s timeline=%q,rtt=%q %d\n", village, timeline, rtt, day.UnixNano())
	d.n++
}

func (d *dayPoints) test(village string, t time.Time, dir string, mbps float64) {
	fmt.Fprintf(&d.buf, "throughput_test,direction=%s,village=%s mbps=%g %d\n", dir, village, mbps, t.UnixNano())
	d.n++
}

// flush writes the lines in batches of 5,000, as the Runner does.
func (d *dayPoints) flush(tb testing.TB, e *env) {
	tb.Helper()
	lines := d.buf.Bytes()
	for len(lines) > 0 {
		cut, n := 0, 0
		for cut < len(lines) && n < 5000 {
			cut += bytes.IndexByte(lines[cut:], '\n') + 1
			n++
		}
		if err := e.rolled.Write(context.Background(), lines[:cut], n); err != nil {
			tb.Fatal(err)
		}
		lines = lines[cut:]
	}
	d.buf.Reset()
	d.n = 0
}

const refRTT = "jatengprov.go.id 23 1440 1440 144"

// An outage across the month's first or last midnight is followed into the
// neighbouring month, so the > 5 minute rule judges it whole (docs/sla.md):
// 23:57-00:03 gives the new month 3 counted minutes, 23:56-00:02 the old one
// 4; and an outage of four days before the month is followed for EdgeDays
// only.
func TestMonthInputsAcrossMonthEdges(t *testing.T) {
	e := newEnv(t)
	start, end := sla.MonthRange(time.Date(2026, 10, 15, 0, 0, 0, 0, sla.WIB))
	var d dayPoints
	const first, last, long, plain = "15.01.01.2001", "15.01.01.2002", "15.01.01.2003", "15.01.01.2004"
	for day := start.AddDate(0, 0, -5); day.Before(end.AddDate(0, 0, 5)); day = day.AddDate(0, 0, 1) {
		for _, v := range []string{first, last, long, plain} {
			tl := "U1440"
			switch {
			case v == first && day.Equal(start.AddDate(0, 0, -1)):
				tl = "U1437D3"
			case v == first && day.Equal(start):
				tl = "D3U1437"
			case v == last && day.Equal(end.AddDate(0, 0, -1)):
				tl = "U1436D4"
			case v == last && day.Equal(end):
				tl = "D2U1438"
			case v == long && day.Before(start.AddDate(0, 0, -4)):
				tl = "U1439D1"
			case v == long && day.Before(start):
				tl = "D1440"
			case v == long && day.Equal(start):
				tl = "D60U1380"
			}
			d.day(v, day, tl, refRTT)
		}
	}
	d.test(plain, start.Add(time.Hour), "download", 90)
	d.test(plain, start.Add(time.Hour+20*time.Second), "upload", 30)
	d.test(plain, end.Add(time.Hour), "download", 10) // next month: not this one's
	d.flush(t, e)

	rd := rollup.NewReader(e.db, rollup.ReaderOptions{})
	data, err := rd.MonthInputs(context.Background(), start, []string{first, last, long, plain})
	if err != nil {
		t.Fatal(err)
	}
	minutes := float64(end.Sub(start) / time.Minute)
	for _, c := range []struct {
		village   string
		from, to  time.Time // the timeline's span
		downtime  float64
		restoreH  float64 // the first outage's whole length
		available float64
	}{
		{first, start.AddDate(0, 0, -1), end, 3, 0.1, 100 * (minutes - 3) / minutes},
		{last, start, end.Add(24 * time.Hour), 4, 0.1, 100 * (minutes - 4) / minutes},
		{long, start.AddDate(0, 0, -3), end, 60, 73, 100 * (minutes - 60) / minutes},
		{plain, start, end, 0, 0, 100},
	} {
		tl := data[c.village].Timeline
		if len(tl) == 0 || !tl[0].Start.Equal(c.from) || !tl[len(tl)-1].End.Equal(c.to) {
			t.Errorf("%s: timeline %v, want it from %v to %v", c.village, tl, c.from, c.to)
			continue
		}
		res, err := sla.Compute(data[c.village].Input(sla.Village{Code: c.village}, start, sla.Contract{}))
		if err != nil {
			t.Fatal(err)
		}
		if res.DowntimeMin != c.downtime || res.TotalMin != minutes {
			t.Errorf("%s: downtime %v of %v minutes, want %v of %v", c.village, res.DowntimeMin, res.TotalMin, c.downtime, minutes)
		}
		near(t, c.village+" availability", res.AvailabilityPct, c.available)
		if c.downtime > 0 && (len(res.Outages) == 0 || res.Outages[0].TimeToRestoreH == nil || fmt.Sprintf("%.1f", *res.Outages[0].TimeToRestoreH) != fmt.Sprintf("%.1f", c.restoreH)) {
			t.Errorf("%s: outages %+v", c.village, res.Outages)
		}
		near(t, c.village+" median RTT", data[c.village].Quality.MedianRTTMs, 23)
		near(t, c.village+" loss", data[c.village].Quality.LossPct, 0.1) // Σ loss_pct 144 over 1440 up rounds a day
	}
	if tp := data[plain].Throughput; len(tp) != 1 || *tp[0].DownloadMbps != 90 || *tp[0].UploadMbps != 30 {
		t.Errorf("speed tests %+v", tp)
	}
	if res, _ := sla.Compute(data[long].Input(sla.Village{Code: long}, start, sla.Contract{})); !res.Outages[0].RestoreFlagged || res.RestoreVerdict != sla.Fail {
		t.Errorf("a 73-hour outage is not flagged: %+v", res.Outages[0])
	}
}
