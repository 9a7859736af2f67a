package geo

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// RegistryDir is where jagadesa registry import stores provinces under a
// data directory: one folder per province code.
func RegistryDir(dataDir string) string { return filepath.Join(dataDir, "registry") }

// ImportedProvinces lists the provinces imported into dataDir, in code
// order, from their manifests (nothing else is read or checked).
func ImportedProvinces(dataDir string) ([]ImportedProvince, error) {
	entries, err := os.ReadDir(RegistryDir(dataDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []ImportedProvince
	for _, e := range entries {
		if !e.IsDir() || len(e.Name()) != 2 || !isDigits(e.Name()) {
			continue
		}
		m, err := readManifest(filepath.Join(RegistryDir(dataDir), e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func readManifest(dir string) (ImportedProvince, error) {
	var m ImportedProvince
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return m, fmt.Errorf("geo: imported province %s: %w", filepath.Base(dir), err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("geo: imported province %s: manifest.json: %w", filepath.Base(dir), err)
	}
	if m.Format != registryFormat {
		return m, fmt.Errorf("geo: imported province %s: format %d, this build reads %d; import it again", filepath.Base(dir), m.Format, registryFormat)
	}
	if m.Code != filepath.Base(dir) {
		return m, fmt.Errorf("geo: imported province %s: manifest.json is of province %q", filepath.Base(dir), m.Code)
	}
	return m, nil
}

// loadImported loads the province imported into dataDir/registry/code,
// checking every file against the SHA-256 its manifest records.
func loadImported(dataDir, code string) (*Registry, error) {
	dir := filepath.Join(RegistryDir(dataDir), code)
	m, err := readManifest(dir)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for _, name := range []string{"villages.csv", "regencies.geojson", "villages-coord-missing.csv"} {
		want, listed := m.Files[name]
		if !listed {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("geo: imported province %s: %w", code, err)
		}
		if got := sha256Hex(b); got != want {
			return nil, fmt.Errorf("geo: imported province %s: %s has changed since the import (SHA-256 %s, manifest %s); import it again", code, name, got[:12], want[:min(12, len(want))])
		}
		files[name] = b
	}
	return loadImportedFiles(m, files)
}

// loadImportedFiles loads an imported province with the loader of the
// embedded ones. Imported provinces have no IDM.
func loadImportedFiles(m ImportedProvince, files map[string][]byte) (*Registry, error) {
	if files["villages.csv"] == nil || files["regencies.geojson"] == nil {
		return nil, fmt.Errorf("geo: imported province %s: villages.csv or regencies.geojson missing", m.Code)
	}
	pd := provinceData{
		info:      ProvinceInfo{ID: m.ID, Code: m.Code, Name: m.Name, Attribution: m.Attribution},
		villages:  files["villages.csv"],
		regencies: files["regencies.geojson"],
		idm:       []byte(strings.Join(idmHeader, ",") + "\n"),
		missing:   files["villages-coord-missing.csv"],
	}
	return loadProvince(pd)
}

// LoadFrom is Load that also knows the provinces imported into dataDir
// (jagadesa registry import) and the synthetic national registry. ids are
// embedded province ids (jateng, jambi), province codes (33, 15: the
// embedded province; 11: the one imported into dataDir), the id of an
// imported province (sumatera-utara), or NationalSyntheticID alone. With
// embedded ids only it is exactly Load.
func LoadFrom(dataDir string, ids ...string) (*Registry, error) {
	var clean []string
	embeddedOnly := true
	for _, id := range ids {
		id = strings.TrimSpace(strings.ToLower(id))
		if id == "" || slices.Contains(clean, id) {
			continue
		}
		clean = append(clean, id)
		if !slices.Contains(ProvinceIDs(), id) {
			embeddedOnly = false
		}
	}
	if embeddedOnly {
		return Load(ids...)
	}
	if slices.Contains(clean, NationalSyntheticID) {
		if len(clean) > 1 {
			return nil, fmt.Errorf("geo: %s is the whole country: give it alone, not with %s", NationalSyntheticID, strings.Join(slices.DeleteFunc(clean, func(s string) bool { return s == NationalSyntheticID }), ", "))
		}
		return NationalSynthetic()
	}
	var imported []ImportedProvince // read on first need
	listed := false
	var regs []*Registry
	seen := map[string]bool{} // province codes
	for _, id := range clean {
		code := id
		var embedded func() (*Registry, error)
		for i, pd := range catalogue {
			if id == pd.info.ID || id == pd.info.Code {
				code = pd.info.Code
				embedded = []func() (*Registry, error){Jateng, Jambi}[i]
			}
		}
		if embedded == nil && !(len(id) == 2 && isDigits(id)) {
			if !listed {
				var err error
				if imported, err = ImportedProvinces(dataDir); err != nil {
					return nil, err
				}
				listed = true
			}
			code = ""
			for _, m := range imported {
				if m.ID == id {
					code = m.Code
				}
			}
			if code == "" {
				return nil, unknownProvince(dataDir, id)
			}
		}
		if seen[code] {
			continue
		}
		seen[code] = true
		var reg *Registry
		var err error
		if embedded != nil {
			reg, err = embedded()
		} else {
			if _, serr := os.Stat(filepath.Join(RegistryDir(dataDir), code)); errors.Is(serr, fs.ErrNotExist) {
				return nil, unknownProvince(dataDir, id)
			}
			reg, err = loadImported(dataDir, code)
		}
		if err != nil {
			return nil, err
		}
		regs = append(regs, reg)
	}
	switch len(regs) {
	case 0:
		return nil, fmt.Errorf("geo: no province given; this build has %s", strings.Join(ProvinceIDs(), ", "))
	case 1:
		return regs[0], nil
	}
	return merge(regs), nil
}

func unknownProvince(dataDir, id string) error {
	var have []string
	for _, pd := range catalogue {
		have = append(have, pd.info.ID+" ("+pd.info.Code+")")
	}
	imported, _ := ImportedProvinces(dataDir)
	var imp []string
	for _, m := range imported {
		imp = append(imp, m.ID+" ("+m.Code+")")
	}
	where := "none imported"
	if len(imp) > 0 {
		where = "imported: " + strings.Join(imp, ", ")
	}
	return fmt.Errorf("geo: unknown province %q: this build has %s; %s has %s (jagadesa registry import adds provinces); %s is the synthetic national registry",
		id, strings.Join(have, ", "), RegistryDir(dataDir), where, NationalSyntheticID)
}
