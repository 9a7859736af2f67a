package server

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/geo"
)

// parseTilePath reads the address of /api/v1/tiles/{z}/{x}/{y}.mvt from its
// three path segments (the last with its ".mvt"). Each number must be
// written as a plain decimal without leading zeros, so one tile has one
// address, and the tile must exist: z ≤ geo.MaxZoom, x and y < 2^z.
// Anything else is an invalid-request error naming the path.
func parseTilePath(zs, xs, yName string) (z, x, y uint32, err error) {
	ys, mvt := strings.CutSuffix(yName, ".mvt")
	zv, okZ := tileNumber(zs)
	xv, okX := tileNumber(xs)
	yv, okY := tileNumber(ys)
	if !mvt || !okZ || !okX || !okY {
		return 0, 0, 0, invalid(jagadesa.Problems{"path": "must be /api/v1/tiles/{z}/{x}/{y}.mvt with whole numbers"}, "bad tile address")
	}
	if zv > geo.MaxZoom || xv>>zv != 0 || yv>>zv != 0 {
		return 0, 0, 0, invalid(jagadesa.Problems{"path": fmt.Sprintf("tile %d/%d/%d does not exist (z ≤ %d, x and y < 2^z)", zv, xv, yv, geo.MaxZoom)}, "bad tile address")
	}
	return zv, xv, yv, nil
}

// tileNumber reads a tile coordinate: ASCII digits, no sign, no leading
// zero, at most 2^32-1.
func tileNumber(s string) (uint32, bool) {
	if s == "" || len(s) > 10 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(s, 10, 32)
	return uint32(v), err == nil
}
