package jagadesacmd

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jagadesa/jagadesa/geo"
)

// The import fixture of package geo: 16 real villages of DI Yogyakarta.
var fixture = filepath.Join("..", "..", "..", "geo", "testdata", "registry-import")

func TestRegistryImportThenServeLoadsIt(t *testing.T) {
	data := t.TempDir()
	var out, errb bytes.Buffer
	err := Run(context.Background(), []string{"registry", "import", "--data-dir", data,
		"--from", filepath.Join(fixture, "indonesia"), "--boundaries", filepath.Join(fixture, "wilayah_boundaries"), "--province", "34"},
		noenv, nil, &out, &errb)
	if err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "34 Daerah Istimewa Yogyakarta (daerah-istimewa-yogyakarta): 16 villages, 4 kecamatan, 2 regencies; 2 approximate") {
		t.Fatalf("stdout %q", out.String())
	}
	out.Reset()
	if err := Run(context.Background(), []string{"registry", "list", "--data-dir", data}, noenv, nil, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "daerah-istimewa-yogyakarta") {
		t.Fatalf("list: %q", out.String())
	}

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		provinces string
		villages  int
	}{
		{"jateng", 8563},
		{"jateng,jambi", 8563 + 1585},
		{"34", 16},
		{"jateng, 34", 8563 + 16},
		{"daerah-istimewa-yogyakarta,15", 16 + 1585},
		{"national-synthetic", 83763},
	} {
		reg, err := loadRegistry(data, tc.provinces, log)
		if err != nil {
			t.Fatalf("%s: %v", tc.provinces, err)
		}
		if reg.Len() != tc.villages {
			t.Errorf("%s: %d villages, want %d", tc.provinces, reg.Len(), tc.villages)
		}
	}
	for _, bad := range []string{"11", "national-synthetic,jateng", "atlantis"} {
		if _, err := loadRegistry(data, bad, log); err == nil || !strings.Contains(err.Error(), "load village registry") {
			t.Errorf("%s: error %v", bad, err)
		}
	}
}

func TestProgrammeAll(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg, err := geo.NationalSynthetic()
	if err != nil {
		t.Fatal(err)
	}
	prog, err := loadProgramme("all", reg, log)
	if err != nil {
		t.Fatal(err)
	}
	if len(prog) != reg.Len() {
		t.Fatalf("%d programme villages of %d", len(prog), reg.Len())
	}
	for _, v := range reg.Villages()[:100] {
		if p, ok := prog[v.Code]; !ok || p.ContractMbps != 100 {
			t.Fatalf("%s: %+v", v.Code, p)
		}
	}
	// The default demo list (Jawa Tengah's) fits the national registry,
	// whose codes are real.
	demo, err := loadProgramme("", reg, log)
	if err != nil || len(demo) != 599 {
		t.Fatalf("demo list on national-synthetic: %d villages, %v", len(demo), err)
	}
}

func TestRegistryCommandRefuses(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"registry"}, "which action"},
		{[]string{"registry", "frob", "--data-dir", "x"}, "unknown action"},
		{[]string{"registry", "import", "--data-dir", t.TempDir()}, "--from is required"},
		{[]string{"registry", "import", "--data-dir", t.TempDir(), "--from", filepath.Join(fixture, "indonesia")}, "--boundaries"},
		{[]string{"registry", "import", "--data-dir", t.TempDir(), "--from", filepath.Join(fixture, "indonesia"),
			"--boundaries", filepath.Join(fixture, "wilayah_boundaries"), "--province", "35"}, "province 35 is not in the codes source"},
	} {
		err := Run(context.Background(), tc.args, noenv, nil, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}
