package composetest

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/jagadesa/jagadesa/server/evidence"
)

// root is the repository root, relative to this package.
const root = "../.."

// testEnv is the environment every load starts from: each required
// variable set to a recognisable test value.
func testEnv() map[string]string {
	return map[string]string{
		"INFLUXDB_ADMIN_PASSWORD": "test-influx-password",
		"INFLUXDB_ADMIN_TOKEN":    "test-influx-token",
		"JAGADESA_ADMIN_TOKEN":    "test-admin-token-0123456789",
		"GRAFANA_ADMIN_PASSWORD":  "test-grafana-password",
		"POSTGRES_PASSWORD":       "testpgpassword0123",
	}
}

// load reads docker-compose.yml as `docker compose` does with the given
// environment (and nothing from the process's own or a .env file), the
// profiles enabled and, when services are named, only those (as
// `docker compose up SERVICE...`). Like compose without --all-resources,
// it drops networks and volumes no chosen service uses.
func load(t *testing.T, env map[string]string, profiles []string, services ...string) (*types.Project, error) {
	t.Helper()
	var kv []string
	for k, v := range env {
		kv = append(kv, k+"="+v)
	}
	opts := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(root),
		cli.WithEnv(kv),
		cli.WithProfiles(profiles),
		cli.WithoutUnnecessaryResources,
	}
	if len(services) > 0 {
		opts = append(opts, cli.WithSelectedServices(services...))
	}
	o, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")}, opts...)
	if err != nil {
		t.Fatalf("compose options: %v", err)
	}
	return o.LoadProject(context.Background())
}

func mustLoad(t *testing.T, profiles []string, services ...string) *types.Project {
	t.Helper()
	p, err := load(t, testEnv(), profiles, services...)
	if err != nil {
		t.Fatalf("load with profiles %q: %v", profiles, err)
	}
	return p
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func keys[V any](m map[string]V) []string {
	var k []string
	for name := range m {
		k = append(k, name)
	}
	return sorted(k)
}

func env(t *testing.T, s types.ServiceConfig, name string) string {
	t.Helper()
	v, ok := s.Environment[name]
	if !ok || v == nil {
		t.Fatalf("service %s: no %s in its environment", s.Name, name)
	}
	return *v
}

// TestPlainUp: without a profile the stack is what it was before the
// replicas profile existed, and it needs no PostgreSQL password.
func TestPlainUp(t *testing.T) {
	e := testEnv()
	delete(e, "POSTGRES_PASSWORD")
	p, err := load(t, e, nil)
	if err != nil {
		t.Fatalf("plain `docker compose up` must not need POSTGRES_PASSWORD: %v", err)
	}
	if got, want := sorted(p.ServiceNames()), []string{"grafana", "influxdb", "jagadesa"}; !slices.Equal(got, want) {
		t.Errorf("services = %q, want %q", got, want)
	}
	if got, want := keys(p.Volumes), []string{"grafana-data", "influxdb-config", "influxdb-data", "jagadesa-data"}; !slices.Equal(got, want) {
		t.Errorf("volumes = %q, want %q", got, want)
	}
	if got, want := keys(p.Networks), []string{"default"}; !slices.Equal(got, want) {
		t.Errorf("networks = %q, want %q", got, want)
	}
	s, err := p.GetService("jagadesa")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Environment["JAGADESA_METADATA_URL"]; ok {
		t.Error("the single server has a metadata URL; it keeps SQLite in its data dir")
	}
	if _, ok := s.Environment["JAGADESA_TRUSTED_PROXY"]; ok {
		t.Error("the single server trusts a proxy, but none is in front of it")
	}
	if len(s.Ports) != 1 || s.Ports[0].Published != "8080" || s.Ports[0].Target != 8080 {
		t.Errorf("jagadesa ports = %+v, want 8080:8080", s.Ports)
	}
}

// TestReplicasProfile checks the profile's services, loaded both with the
// profile alone and with the service list the file's header tells people to
// use.
func TestReplicasProfile(t *testing.T) {
	all := mustLoad(t, []string{"replicas"})
	if got, want := sorted(all.ServiceNames()), []string{"grafana", "influxdb", "jagadesa", "jagadesa-a", "jagadesa-b", "postgres", "proxy"}; !slices.Equal(got, want) {
		t.Errorf("services with --profile replicas = %q, want %q", got, want)
	}

	// The documented command leaves the single server out.
	p := mustLoad(t, []string{"replicas"}, "influxdb", "grafana", "postgres", "jagadesa-a", "jagadesa-b", "proxy")
	if got, want := sorted(p.ServiceNames()), []string{"grafana", "influxdb", "jagadesa-a", "jagadesa-b", "postgres", "proxy"}; !slices.Equal(got, want) {
		t.Errorf("services of the documented command = %q, want %q", got, want)
	}
	if slices.Contains(keys(p.Volumes), "jagadesa-data") {
		t.Error("the documented command still uses the single server's volume")
	}

	pg, err := p.GetService("postgres")
	if err != nil {
		t.Fatal(err)
	}
	if pg.Image != "postgres:15" {
		t.Errorf("postgres image = %q, want postgres:15", pg.Image)
	}
	if got := env(t, pg, "POSTGRES_PASSWORD"); got != testEnv()["POSTGRES_PASSWORD"] {
		t.Errorf("postgres POSTGRES_PASSWORD = %q", got)
	}
	if pg.HealthCheck == nil || !slices.Contains(pg.HealthCheck.Test, "pg_isready") {
		t.Errorf("postgres healthcheck = %+v, want pg_isready", pg.HealthCheck)
	}
	if len(pg.Volumes) != 1 || pg.Volumes[0].Type != types.VolumeTypeVolume || pg.Volumes[0].Source != "postgres-data" {
		t.Errorf("postgres volumes = %+v, want the named volume postgres-data", pg.Volumes)
	}

	single, err := all.GetService("jagadesa")
	if err != nil {
		t.Fatal(err)
	}
	subnet := ""
	if n, ok := p.Networks["replicas"]; !ok || len(n.Ipam.Config) != 1 {
		t.Fatalf("network replicas = %+v, want one fixed subnet", p.Networks["replicas"])
	} else {
		subnet = n.Ipam.Config[0].Subnet
	}

	wantURL := "postgres://jagadesa:" + testEnv()["POSTGRES_PASSWORD"] + "@postgres:5432/jagadesa?sslmode=disable"
	dataVolumes, evidenceNames := map[string]bool{}, map[string]bool{}
	for _, name := range []string{"jagadesa-a", "jagadesa-b"} {
		s, err := p.GetService(name)
		if err != nil {
			t.Fatal(err)
		}
		if s.Image != single.Image || s.Build == nil || single.Build == nil ||
			s.Build.Context != single.Build.Context || s.Build.Dockerfile != single.Build.Dockerfile {
			t.Errorf("%s: image %q build %+v, want the single server's %q %+v", name, s.Image, s.Build, single.Image, single.Build)
		}
		got := env(t, s, "JAGADESA_METADATA_URL")
		if got != wantURL {
			t.Errorf("%s JAGADESA_METADATA_URL = %q, want %q", name, got, wantURL)
		}
		if u, err := url.Parse(got); err != nil || u.Scheme != "postgres" || u.Host != "postgres:5432" {
			t.Errorf("%s: metadata URL %q does not parse as a postgres URL: %v", name, got, err)
		}
		if got := env(t, s, "JAGADESA_TRUSTED_PROXY"); got != subnet {
			t.Errorf("%s JAGADESA_TRUSTED_PROXY = %q, want the proxy network %q", name, got, subnet)
		}
		// Everything else the single server is told, the replicas are too.
		for k, v := range single.Environment {
			if got, ok := s.Environment[k]; !ok || (v == nil) != (got == nil) || (v != nil && *v != *got) {
				t.Errorf("%s: %s differs from the single server's", name, k)
			}
		}
		for _, dep := range []string{"postgres", "influxdb"} {
			if d, ok := s.DependsOn[dep]; !ok || d.Condition != types.ServiceConditionHealthy {
				t.Errorf("%s depends_on %s = %+v, want service_healthy", name, dep, d)
			}
		}
		if len(s.Ports) != 0 {
			t.Errorf("%s publishes %+v; only the proxy should reach it", name, s.Ports)
		}
		if _, ok := s.Networks["replicas"]; !ok {
			t.Errorf("%s is not on the proxy's network", name)
		}
		// Its own data volume, and the evidence volume both share, each
		// replica under a name of its own (evidence.OpenShared).
		mounts := map[string]string{}
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeVolume {
				mounts[v.Target] = v.Source
			}
		}
		if len(s.Volumes) != 2 || mounts["/data"] == "" || mounts["/evidence"] != "jagadesa-evidence" {
			t.Errorf("%s volumes = %+v, want a named volume at /data and jagadesa-evidence at /evidence", name, s.Volumes)
			continue
		}
		if dataVolumes[mounts["/data"]] {
			t.Errorf("%s shares its data volume %q with the other replica", name, mounts["/data"])
		}
		dataVolumes[mounts["/data"]] = true
		if got := env(t, s, "JAGADESA_EVIDENCE_DIR"); got != "/evidence" {
			t.Errorf("%s JAGADESA_EVIDENCE_DIR = %q, want /evidence", name, got)
		}
		replica := env(t, s, "JAGADESA_EVIDENCE_REPLICA")
		if !evidence.ValidReplicaName(replica) || evidenceNames[replica] {
			t.Errorf("%s JAGADESA_EVIDENCE_REPLICA = %q: want a valid name of its own", name, replica)
		}
		evidenceNames[replica] = true
	}

	proxy, err := p.GetService("proxy")
	if err != nil {
		t.Fatal(err)
	}
	if proxy.Image != "nginx:1.27" {
		t.Errorf("proxy image = %q, want nginx:1.27", proxy.Image)
	}
	conf, err := filepath.Abs(filepath.Join(root, "deploy/nginx/jagadesa.conf"))
	if err != nil {
		t.Fatal(err)
	}
	mounted := false
	for _, v := range proxy.Volumes {
		if v.Type == types.VolumeTypeBind && v.Source == conf {
			mounted = true
			if !v.ReadOnly || v.Target != "/etc/nginx/conf.d/default.conf" {
				t.Errorf("proxy mounts the config as %+v, want read-only over /etc/nginx/conf.d/default.conf", v)
			}
		}
	}
	if !mounted {
		t.Errorf("proxy volumes = %+v, want %s mounted", proxy.Volumes, conf)
	}
	// Same host port as the single server: probes keep their URL, and the
	// two cannot both be up.
	if len(proxy.Ports) != 1 || proxy.Ports[0].Published != single.Ports[0].Published || proxy.Ports[0].Target != 80 {
		t.Errorf("proxy ports = %+v, want %s:80", proxy.Ports, single.Ports[0].Published)
	}
	for _, dep := range []string{"jagadesa-a", "jagadesa-b"} {
		if _, ok := proxy.DependsOn[dep]; !ok {
			t.Errorf("proxy does not depend on %s: nginx fails to start while a name does not resolve", dep)
		}
	}
}

// requiredRE finds ${VAR:?message} in the compose file.
var requiredRE = regexp.MustCompile(`\$\{([A-Z0-9_]+):\?([^}]*)\}`)

// TestRequiredVariables takes each ${VAR:?message} from the file itself and
// shows that loading without it, or with it empty, fails with its message,
// with and without the profile.
func TestRequiredVariables(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	required := map[string]string{}
	for _, m := range requiredRE.FindAllStringSubmatch(string(b), -1) {
		required[m[1]] = m[2]
	}
	// The list is pinned so that adding a required variable is a decision
	// (a profile's service must not add one: see TestPlainUp).
	if got, want := keys(required), []string{"GRAFANA_ADMIN_PASSWORD", "INFLUXDB_ADMIN_PASSWORD", "INFLUXDB_ADMIN_TOKEN", "JAGADESA_ADMIN_TOKEN"}; !slices.Equal(got, want) {
		t.Errorf("required variables = %q, want %q", got, want)
	}
	for name, msg := range required {
		for _, profiles := range [][]string{nil, {"replicas"}} {
			for _, unset := range []bool{true, false} {
				how := "empty"
				if unset {
					how = "unset"
				}
				t.Run(name+"/"+strings.Join(append([]string{"profiles"}, profiles...), "-")+"/"+how, func(t *testing.T) {
					e := testEnv()
					if unset {
						delete(e, name)
					} else {
						e[name] = ""
					}
					_, err := load(t, e, profiles)
					if err == nil {
						t.Fatalf("loaded without %s", name)
					}
					want := "required variable " + name + " is missing a value: " + msg
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not say %q", err, want)
					}
				})
			}
		}
	}
}
