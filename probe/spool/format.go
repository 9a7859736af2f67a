package spool

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/jagadesa/jagadesa/internal/fsutil"
)

// On-disk format. Everything is little-endian, the byte order of every
// router CPU this ships to that matters (and fixed either way, so a spool
// can be read on a workstation for debugging).
//
// Segment file, named by the id of its first record (%012d.seg):
//
//	header  [magic "JDSG"][version u32][first id u64][created unix ms i64][flags u32][crc32c u32 over the 28 bytes before it]
//	record  [length u32][crc32c u32 over the length bytes + payload][payload]
//
// Record ids are not stored: the n-th record of a segment (from 0) has id
// first+n. That keeps the framing minimal and makes a record's id a fact
// of its position, so no bit flip can make two records claim one id.
//
// State file "state" (replaced atomically, never edited in place):
//
//	[magic "JDST"][version u32][ack u64][dropped u64][reserved u64][crc32c u32 over the 32 bytes before it]
const (
	segMagic      = "JDSG"
	stateMagic    = "JDST"
	formatVersion = 1

	hdrSize       = 32
	frameOverhead = 8 // length + crc
	stateSize     = 36

	segSuffix = ".seg"
	tmpSuffix = fsutil.TempSuffix // a write not yet renamed: the state file's (fsutil.WriteFileAtomic), a new segment's
	stateName = "state"
	lockName  = "lock"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func segName(first uint64) string { return fmt.Sprintf("%012d%s", first, segSuffix) }

// parseSegName accepts only the canonical spelling, so "1.seg" next to
// "000000000001.seg" cannot smuggle a second copy of the same ids in.
func parseSegName(name string) (uint64, bool) {
	base, ok := strings.CutSuffix(name, segSuffix)
	if !ok || base == "" {
		return 0, false
	}
	id, err := strconv.ParseUint(base, 10, 64)
	if err != nil || id == 0 || segName(id) != name {
		return 0, false
	}
	return id, true
}

func encodeHeader(first uint64, createdMs int64) []byte {
	b := make([]byte, hdrSize)
	copy(b, segMagic)
	binary.LittleEndian.PutUint32(b[4:], formatVersion)
	binary.LittleEndian.PutUint64(b[8:], first)
	binary.LittleEndian.PutUint64(b[16:], uint64(createdMs))
	// b[24:28] flags: zero, reserved for a future format change.
	binary.LittleEndian.PutUint32(b[28:], crc32.Checksum(b[:28], castagnoli))
	return b
}

func validHeader(b []byte, first uint64) bool {
	return len(b) >= hdrSize &&
		string(b[:4]) == segMagic &&
		binary.LittleEndian.Uint32(b[4:]) == formatVersion &&
		binary.LittleEndian.Uint64(b[8:]) == first &&
		binary.LittleEndian.Uint32(b[28:]) == crc32.Checksum(b[:28], castagnoli)
}

// appendFrame frames payload onto dst.
// The header is built in dst itself: a local array would escape through the
// checksum call and cost an allocation per append.
func appendFrame(dst, payload []byte) []byte {
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	dst = append(dst, 0, 0, 0, 0)
	dst = append(dst, payload...)
	binary.LittleEndian.PutUint32(dst[start+4:], frameCRC(dst[start:start+4], payload))
	return dst
}

// frameLen reads a frame header. ok is false for a length no Append can
// have written: zero (the usual look of a tail the file system extended
// but never filled) or over the limit (garbage).
func frameLen(h []byte) (n int, crc uint32, ok bool) {
	l := binary.LittleEndian.Uint32(h[:4])
	if l == 0 || l > MaxRecordSize {
		return 0, 0, false
	}
	return int(l), binary.LittleEndian.Uint32(h[4:8]), true
}

func frameCRC(h, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(h[:4], castagnoli), castagnoli, payload)
}

// errBadFrame marks data that fails its framing or checksum, as opposed to
// an I/O error, which must not be mistaken for corruption and cut away.
var errBadFrame = errors.New("bad frame")

// readFrame reads one record from r into buf (grown as needed). It returns
// errBadFrame for a torn or corrupt record, io.EOF at a clean end.
func readFrame(r io.Reader, buf []byte) (payload []byte, err error) {
	var h [frameOverhead]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return nil, errBadFrame
		}
		return nil, err
	}
	n, crc, ok := frameLen(h[:])
	if !ok {
		return nil, errBadFrame
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, errBadFrame
		}
		return nil, err
	}
	if frameCRC(h[:], buf) != crc {
		return nil, errBadFrame
	}
	return buf, nil
}

// scanResult is what a segment holds, as far as it can be trusted.
type scanResult struct {
	headerOK bool
	count    uint64 // good records from the start
	end      int64  // offset just past the last good record
	size     int64  // file size
}

// scanSegment verifies a segment record by record, stopping at the first
// record that fails or once limit records are found (more than that would
// collide with the next segment's ids).
func scanSegment(path string, first, limit uint64) (scanResult, error) {
	var res scanResult
	f, err := os.Open(path)
	if err != nil {
		return res, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return res, err
	}
	res.size = fi.Size()
	br := bufio.NewReaderSize(f, 32<<10)
	hdr := make([]byte, hdrSize)
	if _, err := io.ReadFull(br, hdr); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return res, nil
		}
		return res, err
	}
	if !validHeader(hdr, first) {
		return res, nil
	}
	res.headerOK = true
	res.end = hdrSize
	buf := make([]byte, 0, 4<<10)
	for res.count < limit {
		p, err := readFrame(br, buf)
		if err == io.EOF || err == errBadFrame {
			break
		}
		if err != nil {
			return res, err
		}
		buf = p[:0]
		res.count++
		res.end += int64(frameOverhead + len(p))
	}
	return res, nil
}

// state is the small persisted record of what the queue has consumed.
type state struct {
	ack      uint64 // every id <= ack is delivered or dropped
	dropped  uint64 // records dropped for space, ever
	reserved uint64 // no id above this has been handed out
}

func (st state) encode() []byte {
	b := make([]byte, stateSize)
	copy(b, stateMagic)
	binary.LittleEndian.PutUint32(b[4:], formatVersion)
	binary.LittleEndian.PutUint64(b[8:], st.ack)
	binary.LittleEndian.PutUint64(b[16:], st.dropped)
	binary.LittleEndian.PutUint64(b[24:], st.reserved)
	binary.LittleEndian.PutUint32(b[32:], crc32.Checksum(b[:32], castagnoli))
	return b
}

func decodeState(b []byte) (state, bool) {
	if len(b) != stateSize || string(b[:4]) != stateMagic ||
		binary.LittleEndian.Uint32(b[4:]) != formatVersion ||
		binary.LittleEndian.Uint32(b[32:]) != crc32.Checksum(b[:32], castagnoli) {
		return state{}, false
	}
	return state{
		ack:      binary.LittleEndian.Uint64(b[8:]),
		dropped:  binary.LittleEndian.Uint64(b[16:]),
		reserved: binary.LittleEndian.Uint64(b[24:]),
	}, true
}
