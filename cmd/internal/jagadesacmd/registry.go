package jagadesacmd

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/cmd/internal/envflag"
	"github.com/jagadesa/jagadesa/geo"
)

const registryUsage = `usage: jagadesa registry <import|list> --data-dir DIR [flags]

  import   --from PATH --boundaries DIR [--province NN ...]
           import provinces' villages (Kemendagri codes and names, regency
           boundaries, village points) into DIR/registry/NN, for
           jagadesa serve --provinces NN,…
           --from: villages.csv as in the shared data/indonesia (or its
           folder), or db/wilayah.sql of github.com/cahyadsn/wilayah
           --boundaries: a copy of github.com/cahyadsn/wilayah_boundaries;
           villages without a polygon get their kecamatan's (or regency's)
           point, marked approximate
           --province: province codes (repeatable or comma-separated);
           none: every province of --from
  list     the provinces imported into DIR
`

// runRegistry imports and lists the provinces kept under the data
// directory (the embedded ones, jateng and jambi, need no import).
func runRegistry(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(stderr, registryUsage)
		return errors.New("jagadesa registry: which action? import or list")
	}
	action := args[0]
	env := envflag.New(getenv)
	fs := flag.NewFlagSet("jagadesa registry "+action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, registryUsage) }
	dataDir := fs.String("data-dir", env.String("JAGADESA_DATA_DIR", "./data"), "the server's data directory (env JAGADESA_DATA_DIR)")
	from := fs.String("from", "", "import: Kemendagri codes and names: villages.csv (shared data/indonesia) or cahyadsn/wilayah's db/wilayah.sql")
	boundaries := fs.String("boundaries", "", "import: a copy of github.com/cahyadsn/wilayah_boundaries")
	var provinces envflag.List
	fs.Var(&provinces, "province", "import: province code NN; repeatable or comma-separated; none: all")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if err := env.Err(); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("jagadesa registry %s: unexpected argument %q", action, fs.Arg(0))
	}
	switch action {
	case "import":
		if *from == "" {
			return errors.New("--from is required")
		}
		var codes []string
		for _, p := range provinces {
			codes = append(codes, strings.Split(p, ",")...)
		}
		start := time.Now()
		infos, err := geo.Import(*dataDir, geo.ImportOptions{From: *from, Boundaries: *boundaries, Provinces: codes})
		for _, in := range infos {
			approx := in.Points.District + in.Points.Regency
			fmt.Fprintf(stdout, "%s %s (%s): %d villages, %d kecamatan, %d regencies; %d approximate (%d at their kecamatan, %d at their regency); %d points moved inside their polygon; %d outside their regency polygon\n",
				in.Code, in.Name, in.ID, in.Villages, in.Districts, in.Regencies, approx, in.Points.District, in.Points.Regency, in.Points.Moved, in.OutsideRegency)
			for _, w := range in.Warnings {
				fmt.Fprintf(stdout, "  warning: %s\n", w)
			}
			if in.Code == "33" || in.Code == "15" {
				fmt.Fprintf(stdout, "  note: this build embeds province %s; --provinces %s and %s load the embedded copy, --provinces %s this import\n", in.Code, in.Code, embeddedID(in.Code), in.ID)
			}
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "imported %d provinces into %s in %s\n", len(infos), geo.RegistryDir(*dataDir), time.Since(start).Round(time.Millisecond))
		return nil
	case "list":
		infos, err := geo.ImportedProvinces(*dataDir)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CODE\tID\tNAME\tVILLAGES\tREGENCIES\tAPPROXIMATE\tIMPORTED")
		for _, in := range infos {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\n", in.Code, in.ID, in.Name, in.Villages, in.Regencies, in.Points.District+in.Points.Regency, in.ImportedAt.Format(time.RFC3339))
		}
		return tw.Flush()
	}
	fmt.Fprint(stderr, registryUsage)
	return fmt.Errorf("jagadesa registry: unknown action %q", action)
}

func embeddedID(code string) string {
	if code == "33" {
		return "jateng"
	}
	return "jambi"
}

// loadRegistry turns --provinces into the village registry: embedded
// provinces (jateng, jambi, or their codes 33, 15), provinces imported
// into the data directory (their codes or ids), or national-synthetic.
func loadRegistry(dataDir, provinces string, log *slog.Logger) (*geo.Registry, error) {
	start := time.Now()
	reg, err := geo.LoadFrom(dataDir, strings.Split(provinces, ",")...)
	if err != nil {
		return nil, fmt.Errorf("load village registry: %w", err)
	}
	if strings.TrimSpace(strings.ToLower(provinces)) == geo.NationalSyntheticID {
		log.Warn("using the SYNTHETIC national registry (real codes and names, made-up points and regency shapes): for benchmarks only",
			"villages", reg.Len(), "regencies", len(reg.Regencies()), "took", time.Since(start).Round(time.Millisecond))
	}
	return reg, nil
}

// programmeAll is --programme all: every village of the registry in a
// SYNTHETIC programme.
func programmeAll(reg *geo.Registry, log *slog.Logger) map[string]jagadesa.Programme {
	list := geo.SyntheticProgramme(reg)
	log.Warn("--programme all: every village is in a SYNTHETIC programme (made-up cohorts and ISPs, 100 Mbps)", "villages", len(list))
	out := make(map[string]jagadesa.Programme, len(list))
	for _, p := range list {
		out[p.Code] = p
	}
	return out
}
