package geo

import (
	"strings"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

func TestScanSQLInserts(t *testing.T) {
	src := `/* header
spanning lines */
DROP TABLE IF EXISTS t; -- a comment with 'quotes
CREATE TABLE t (kode varchar(13), nama varchar(100));
INSERT INTO other (a) VALUES ('x;y');
INSERT INTO t (kode, nama)
VALUES
('11','Aceh'),
	('75.01.05.2012','Olimoo''o'), # MySQL comment
('11.01', 'It\'s'),
('11.02', NULL);
;
INSERT INTO ` + "`t`" + `(kode,nama) VALUES ('12','Sumatera Utara');
`
	type row struct {
		line       int
		kode, nama string
		null       bool
	}
	var got []row
	n, err := scanSQLInserts("x.sql", []byte(src), "t", []string{"kode", "nama"}, func(line int, v []sqlValue) error {
		got = append(got, row{line, v[0].s, v[1].s, v[1].null})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []row{{8, "11", "Aceh", false}, {9, "75.01.05.2012", "Olimoo'o", false}, {10, "11.01", "It's", false}, {11, "11.02", "NULL", true}, {13, "12", "Sumatera Utara", false}}
	if n != len(want) || len(got) != len(want) {
		t.Fatalf("%d rows: %+v", n, got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d: %+v, want %+v", i, got[i], want[i])
		}
	}

	for _, tc := range []struct{ src, want string }{
		{"INSERT INTO t (kode) VALUES ('1');", "x.sql line 1: INSERT INTO t has columns (kode), want (kode,nama)"},
		{"\nINSERT INTO t (kode,nama) VALUES\n('1','a'),\n('2','b);\n", "x.sql line 4: string is never closed"},
		{"INSERT INTO t (kode,nama) VALUES ('1','a','b');", "x.sql line 1: 3 values, want 2"},
		{"INSERT INTO t (kode,nama) VALUES ('1','a')", "x.sql line 1: file ends before the ; of the INSERT"},
		{"INSERT INTO t (kode,nama) VALUES ('1' 'a');", `x.sql line 1: found "'a');" where ')' was expected`},
		{"/* never closed", "x.sql line 1: comment /* is never closed"},
	} {
		_, err := scanSQLInserts("x.sql", []byte(tc.src), "t", []string{"kode", "nama"}, func(int, []sqlValue) error { return nil })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.src, err, tc.want)
		}
	}
}

func TestPointIn(t *testing.T) {
	// A U shape whose centroid lies in the notch.
	u := orb.MultiPolygon{{{{0, 0}, {3, 0}, {3, 3}, {2, 3}, {2, 1}, {1, 1}, {1, 3}, {0, 3}, {0, 0}}}}
	p, moved := pointIn(u, orb.Point{1.5, 2})
	if !moved || !planar.MultiPolygonContains(u, p) {
		t.Fatalf("%v moved=%v is not inside", p, moved)
	}
	if p, moved := pointIn(u, orb.Point{0.5, 0.5}); moved || p != (orb.Point{0.5, 0.5}) {
		t.Fatalf("an inside point was moved to %v", p)
	}
}
