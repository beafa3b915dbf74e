package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The file lib/k3s/registries.ts writes for a cluster named k8s with the
// in-cluster registry and a Docker Hub mirror.
const libraryRegistriesYAML = `mirrors:
  "docker.io":
    endpoint:
      - "https://mirror.example:5443/"
      - "https://registry-1.docker.io"
  "k8s.internal:5000":
    endpoint:
      - "http://127.0.0.1:5000"
configs:
  "127.0.0.1:5000":
    tls:
      insecure_skip_verify: true
`

func TestRegistriesYAMLBecomesHostsTOML(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registries.yaml")
	if err := os.WriteFile(path, []byte(libraryRegistriesYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := loadRegistries(path)
	if err != nil {
		t.Fatal(err)
	}
	files, warnings, err := r.hostsTOML()
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("unexpected warnings %q", warnings)
	}
	internal := files["k8s.internal:5000"]
	for _, want := range []string{
		`server = "https://k8s.internal:5000"`,
		`[host."http://127.0.0.1:5000"]`,
		`capabilities = ["pull", "resolve"]`,
		`  skip_verify = true`,
	} {
		if !strings.Contains(internal, want) {
			t.Errorf("k8s.internal:5000 hosts.toml lacks %q:\n%s", want, internal)
		}
	}
	hub := files["docker.io"]
	if !strings.Contains(hub, `server = "https://registry-1.docker.io"`) ||
		strings.Index(hub, `[host."https://mirror.example:5443"]`) > strings.Index(hub, `[host."https://registry-1.docker.io"]`) {
		t.Errorf("docker.io hosts.toml: want the mirror first, then Docker Hub:\n%s", hub)
	}
	if _, ok := files["127.0.0.1:5000"]; !ok {
		t.Errorf("a configs-only registry gets its own hosts.toml too; got %v", keys(files))
	}

	dir := t.TempDir()
	if err := writeHostsDir(dir, files); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "k8s.internal:5000", "hosts.toml")); err != nil || string(data) != internal {
		t.Errorf("written hosts.toml = %q, %v", data, err)
	}
}

func TestRegistriesEdgeCases(t *testing.T) {
	if r, err := loadRegistries(filepath.Join(t.TempDir(), "absent.yaml")); err != nil || len(r.Mirrors) != 0 {
		t.Errorf("a missing file is an empty configuration; got %+v, %v", r, err)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	_ = os.WriteFile(bad, []byte("mirrors:\n  x:\n    endpoints: [a]\n"), 0o600)
	if _, err := loadRegistries(bad); err == nil || !strings.Contains(err.Error(), "endpoints") {
		t.Errorf("an unknown field must be reported; got %v", err)
	}

	u, override, err := endpointURL("mirror.example/prefix")
	if err != nil || u != "https://mirror.example/prefix/v2" || !override {
		t.Errorf("endpoint with a path: %q %v %v", u, override, err)
	}
	if _, _, err := endpointURL("ftp://x"); err == nil {
		t.Error("a non-HTTP endpoint must be refused")
	}

	r := &registriesFile{
		Mirrors: map[string]registryMirror{"*": {Endpoints: []string{"http://cache:5000"}}},
		Configs: map[string]registryConfig{"private:443": {Auth: &struct {
			Username string `json:"username"`
		}{Username: "u"}}},
	}
	files, warnings, err := r.hostsTOML()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := files["_default"]; !ok {
		t.Errorf(`the "*" mirror goes to _default; got %v`, keys(files))
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "credentials for private:443") {
		t.Errorf("credentials must be reported as unsupported; got %q", warnings)
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
