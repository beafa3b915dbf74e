package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The staged manifest is where k3s puts its packaged ones, one document per
// object, with the image references readable by a plain text scan.
func TestStageManifestWritesEveryObject(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "server", "manifests")
	objs := coreDNSObjects(&serverConfig{ClusterDNS: "10.45.0.10"}, "example.test/coredns:9.9")
	if err := stageManifest(dir, "coredns", objs); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "coredns.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if n := strings.Count(text, "\n---\n") + 1; n != len(objs) {
		t.Fatalf("%d documents, want %d", n, len(objs))
	}
	if !strings.Contains(text, `"image": "example.test/coredns:9.9"`) {
		t.Fatalf("no image line in:\n%s", text)
	}
	if _, err := os.Stat(filepath.Join(dir, "coredns.yaml.tmp")); !os.IsNotExist(err) {
		t.Fatalf("temporary file left: %v", err)
	}
}
