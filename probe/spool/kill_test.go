package spool

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The kill tests run a child process (this test binary, re-executed into
// TestHelperWriter) that works on a spool as fast as it can, SIGKILL it at a
// random moment, and check what a fresh Open finds. A kill -9 leaves exactly
// what the kernel had been given; power cuts are covered by the torn-tail
// tests, which manufacture what a cut can leave.

const (
	helperModeEnv  = "SPOOL_TEST_HELPER" // "append" or "ack"
	helperDirEnv   = "SPOOL_TEST_DIR"
	helperStartEnv = "SPOOL_TEST_START" // payload index of the child's first Append

	killRounds = 100
)

// Small segments, so kills also land in segment creation and deletion.
var killOpts = Options{MaxBytes: 256 << 20, SegmentBytes: 1 << 10, SyncEvery: 1}

// TestHelperWriter is the child process of the kill tests; run directly, it
// does nothing. In "append" mode it appends records with consecutive payload
// indices forever. In "ack" mode it appends three, acks a few of the oldest,
// and repeats, announcing on stdout each append done ("a N"), each ack about
// to start ("t N") and each ack done ("k N"), N being a payload index.
func TestHelperWriter(t *testing.T) {
	mode := os.Getenv(helperModeEnv)
	if mode == "" {
		t.Skip("child process of the kill tests")
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(3)
	}
	start, err := strconv.Atoi(os.Getenv(helperStartEnv))
	if err != nil {
		fail(err)
	}
	s, err := Open(os.Getenv(helperDirEnv), killOpts)
	if err != nil {
		fail(err)
	}
	// os.Stdout is unbuffered: each line is in the pipe before the next step.
	say := func(format string, args ...any) { fmt.Fprintf(os.Stdout, format+"\n", args...) }
	say("ready")
	switch mode {
	case "append":
		for i := start; ; i++ {
			if _, err := s.Append(payloadFor(i)); err != nil {
				fail(err)
			}
		}
	case "ack":
		for i := start; ; {
			for range 3 {
				if _, err := s.Append(payloadFor(i)); err != nil {
					fail(err)
				}
				say("a %d", i)
				i++
			}
			recs, err := s.Peek(1+rand.IntN(4), 0)
			if err != nil {
				fail(err)
			}
			last := recs[len(recs)-1]
			say("t %d", indexOf(last.Payload))
			if err := s.Ack(last.ID); err != nil {
				fail(err)
			}
			say("k %d", indexOf(last.Payload))
		}
	}
	fail(fmt.Errorf("unknown mode %q", mode))
}

// runAndKill starts the helper, waits until it has opened the spool, lets
// it run for 0-30 ms, SIGKILLs it and returns the lines it printed after
// "ready". The delay is the fault injection's randomness, not a wait for
// anything.
func runAndKill(t *testing.T, mode, dir string, start int) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperModeEnv+"="+mode, helperDirEnv+"="+dir, helperStartEnv+"="+strconv.Itoa(start))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill() // on t.Fatal paths
	r := bufio.NewReader(stdout)
	if line, err := r.ReadString('\n'); line != "ready\n" {
		cmd.Wait()
		t.Fatalf("helper did not start: %q %v; stderr:\n%s", line, err, stderr.String())
	}
	time.Sleep(rand.N(31 * time.Millisecond))
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() {
		t.Fatalf("helper ended by itself (%v); stderr:\n%s", err, stderr.String())
	}
	return strings.Fields(string(rest))
}

// checkRecovered verifies that recs hold intact payloads with consecutive
// indices from first, in id order, and returns the index after the last.
func checkRecovered(t *testing.T, round int, recs []Record, first int) int {
	t.Helper()
	want := first
	for j, r := range recs {
		idx := indexOf(r.Payload)
		if idx < 0 {
			t.Fatalf("round %d: record %d has a damaged payload %q", round, r.ID, r.Payload)
		}
		if idx != want {
			t.Fatalf("round %d: record %d holds index %d, want %d (a hole or a duplicate)", round, r.ID, idx, want)
		}
		if j > 0 && r.ID <= recs[j-1].ID {
			t.Fatalf("round %d: ids not increasing: %d after %d", round, r.ID, recs[j-1].ID)
		}
		want++
	}
	return want
}

func TestKillDuringAppend(t *testing.T) {
	dir := t.TempDir()
	first, next := 1, 1 // oldest index still queued; index the next child starts at
	var maxID uint64    // highest id seen in earlier rounds
	appended, truncated := 0, 0
	began := time.Now()
	for round := range killRounds {
		runAndKill(t, "append", dir, next)

		s := mustOpen(t, dir, killOpts)
		recs := peekAll(t, s)
		after := checkRecovered(t, round, recs, first)
		if after < next {
			t.Fatalf("round %d: records up to index %d were queued, only up to %d recovered", round, next-1, after-1)
		}
		for _, r := range recs {
			if indexOf(r.Payload) >= next && r.ID <= maxID {
				t.Fatalf("round %d: new record %d reuses an id at or below %d", round, r.ID, maxID)
			}
			maxID = max(maxID, r.ID)
		}
		st := s.Stats()
		if st.Records != int64(len(recs)) || st.Dropped != 0 {
			t.Fatalf("round %d: %d records recovered, Stats %+v", round, len(recs), st)
		}
		if st.TruncatedBytes > 0 {
			truncated++
		}
		appended += after - next
		next = after

		// Acknowledge a random prefix; the next round checks it stays acked.
		k := rand.IntN(len(recs) + 1)
		if k > 0 {
			if err := s.Ack(recs[k-1].ID); err != nil {
				t.Fatal(err)
			}
		}
		if k < len(recs) {
			first = indexOf(recs[k].Payload)
		} else {
			first = next
		}
		mustClose(t, s)
	}
	t.Logf("%d kill rounds in %v: %d records appended, %d torn tails cut", killRounds, time.Since(began).Round(time.Millisecond), appended, truncated)
	if appended == 0 {
		t.Fatal("the helper never got a record in before being killed")
	}
}

func TestKillDuringAck(t *testing.T) {
	dir := t.TempDir()
	next, acked := 1, 0 // index the next child starts at; index acked through
	acks, interrupted, landed := 0, 0, 0
	began := time.Now()
	for round := range killRounds {
		lastA, lastT, lastK := next-1, acked, acked
		lines := runAndKill(t, "ack", dir, next)
		for i := 0; i+1 < len(lines); i += 2 {
			n, err := strconv.Atoi(lines[i+1])
			if err != nil {
				t.Fatalf("round %d: bad helper output %q", round, lines)
			}
			switch lines[i] {
			case "a":
				lastA = n
			case "t":
				lastT = n
			case "k":
				lastK = n
				acks++
			}
		}

		s := mustOpen(t, dir, killOpts)
		recs := peekAll(t, s)
		if lastT != lastK {
			interrupted++
		}
		if len(recs) == 0 {
			// Everything appended was acked, so the ack under way (if any)
			// completed, and no unannounced append can exist.
			if lastA != lastT {
				t.Fatalf("round %d: nothing queued, but appends reached %d and acks only %d (attempted)", round, lastA, lastT)
			}
			next, acked = lastA+1, lastT
		} else {
			lo := indexOf(recs[0].Payload)
			hi := checkRecovered(t, round, recs, lo) - 1
			// The ack being written when killed may or may not have landed,
			// but never half: no position other than these two.
			if lo-1 != lastK && lo-1 != lastT {
				t.Fatalf("round %d: acked through %d, want %d (done) or %d (under way)", round, lo-1, lastK, lastT)
			}
			// Likewise the append under way.
			if hi != lastA && hi != lastA+1 {
				t.Fatalf("round %d: queue ends at %d, want %d or %d", round, hi, lastA, lastA+1)
			}
			next, acked = hi+1, lo-1
		}
		if lastT != lastK && acked == lastT {
			landed++
		}
		if st := s.Stats(); st.Records != int64(len(recs)) {
			t.Fatalf("round %d: %d records, Stats %+v", round, len(recs), st)
		}
		mustClose(t, s)
	}
	t.Logf("%d kill rounds in %v: %d acks completed, %d records appended; %d kills inside Ack, of which %d after its state was saved",
		killRounds, time.Since(began).Round(time.Millisecond), acks, next-1, interrupted, landed)
	if acks == 0 {
		t.Fatal("the helper never completed an ack before being killed")
	}
}
