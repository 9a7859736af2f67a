package server

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/geo"
)

// FuzzTilePath checks the tile address parser of /api/v1/tiles/{z}/{x}/{y}.mvt
// against a plain statement of the rule: it accepts exactly the addresses
// whose numbers print back as given (decimal, no sign, no leading zero) and
// lie in the tile grid (z ≤ geo.MaxZoom, x and y < 2^z), returns those
// numbers, and refuses everything else as an invalid request naming the
// path, without panicking.
func FuzzTilePath(f *testing.F) {
	for _, s := range [][3]string{
		{"0", "0", "0.mvt"}, {"8", "208", "131.mvt"}, {"22", "4194303", "4194303.mvt"},
		{"23", "0", "0.mvt"}, {"3", "8", "0.mvt"}, {"1", "0", "2.mvt"}, {"-1", "0", "0.mvt"},
		{"a", "0", "0.mvt"}, {"1", "0", "0.png"}, {"1", "0", "0"}, {"1", "0", ".mvt"}, {"1", "0", "0.mvt.mvt"},
		{"01", "0", "0.mvt"}, {"+1", "0", "0.mvt"}, {" 1", "0", "0.mvt"}, {"1", "0x1", "0.mvt"}, {"1", "1_0", "0.mvt"},
		{"4294967296", "0", "0.mvt"}, {"64", "0", "0.mvt"}, {"32", "0", "0.mvt"}, {"1", "٠", "0.mvt"}, {"", "", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, zs, xs, yName string) {
		z, x, y, err := parseTilePath(zs, xs, yName)
		wz, wx, wy, ok := tileAddress(zs, xs, yName)
		if !ok {
			var e *jagadesa.Error
			if err == nil {
				t.Fatalf("%q/%q/%q accepted as %d/%d/%d", zs, xs, yName, z, x, y)
			}
			if !errors.As(err, &e) || e.Code != jagadesa.EInvalid || e.Problems["path"] == "" {
				t.Fatalf("%q/%q/%q: error %#v, want an invalid request naming the path", zs, xs, yName, err)
			}
			return
		}
		if err != nil || uint64(z) != wz || uint64(x) != wx || uint64(y) != wy {
			t.Fatalf("%q/%q/%q: got %d/%d/%d, %v, want %d/%d/%d", zs, xs, yName, z, x, y, err, wz, wx, wy)
		}
	})
}

// tileAddress is the rule FuzzTilePath checks parseTilePath against.
func tileAddress(zs, xs, yName string) (z, x, y uint64, ok bool) {
	if !strings.HasSuffix(yName, ".mvt") {
		return 0, 0, 0, false
	}
	var n [3]uint64
	for i, s := range []string{zs, xs, strings.TrimSuffix(yName, ".mvt")} {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil || strconv.FormatUint(v, 10) != s {
			return 0, 0, 0, false
		}
		n[i] = v
	}
	z, x, y = n[0], n[1], n[2]
	if z > geo.MaxZoom || x >= 1<<z || y >= 1<<z {
		return 0, 0, 0, false
	}
	return z, x, y, true
}
