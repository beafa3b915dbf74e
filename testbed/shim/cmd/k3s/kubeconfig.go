package main

// Kubeconfig files: the user-facing one (--write-kubeconfig, credentials
// embedded, cluster/context/user all named "default" exactly like k3s's
// k3s.yaml) and the ones the components use (paths to the PEM files).

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
)

// adminKubeconfig renders the k3s.yaml equivalent for server.
func adminKubeconfig(server string, p *pki) ([]byte, error) {
	cert, err := os.ReadFile(p.Admin.Cert)
	if err != nil {
		return nil, err
	}
	key, err := os.ReadFile(p.Admin.Key)
	if err != nil {
		return nil, err
	}
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Appendf(nil, `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: %s
    server: %s
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: %s
    client-key-data: %s
`, b64(p.CAPEM), server, b64(cert), b64(key)), nil
}

// componentKubeconfig renders a kubeconfig that references PEM files.
func componentKubeconfig(server, caFile string, pair certPair) []byte {
	return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority: %q
    server: %q
  name: local
contexts:
- context:
    cluster: local
    user: user
  name: local
current-context: local
users:
- name: user
  user:
    client-certificate: %q
    client-key: %q
`, caFile, server, pair.Cert, pair.Key)
}

// writeKubeconfigFile writes data to path with mode perm. It writes a
// temporary file and renames it, so a reader polling for the file never
// sees it half-written; if the rename is impossible (path is a bind-mounted
// file), it overwrites in place.
func writeKubeconfigFile(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := writeFile(tmp, data, perm); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return writeFile(path, data, perm)
	}
	return nil
}
