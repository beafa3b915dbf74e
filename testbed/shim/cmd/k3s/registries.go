package main

// /etc/rancher/k3s/registries.yaml → containerd's registry host
// configuration (<certs.d>/<registry>/hosts.toml), the translation k3s does
// at start: every mirror endpoint becomes a [host] entry tried in order, the
// registry's own address stays the fallback `server`, and the `configs`
// section's TLS settings go to the entry of the host they name.

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

type registriesFile struct {
	Mirrors map[string]registryMirror `json:"mirrors"`
	Configs map[string]registryConfig `json:"configs"`
}

type registryMirror struct {
	Endpoints []string          `json:"endpoint"`
	Rewrites  map[string]string `json:"rewrite"`
}

type registryConfig struct {
	Auth *struct {
		Username string `json:"username"`
	} `json:"auth"`
	TLS *struct {
		CAFile             string `json:"ca_file"`
		CertFile           string `json:"cert_file"`
		KeyFile            string `json:"key_file"`
		InsecureSkipVerify bool   `json:"insecure_skip_verify"`
	} `json:"tls"`
}

// loadRegistries reads path; a missing file is an empty configuration.
func loadRegistries(path string) (*registriesFile, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &registriesFile{}, nil
	}
	if err != nil {
		return nil, err
	}
	var r registriesFile
	if err := yaml.UnmarshalStrict(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// hostsTOML renders containerd's hosts.toml for every registry that has a
// mirror or a config, keyed by the directory name under certs.d. Warnings
// name what containerd's host configuration cannot express.
func (r *registriesFile) hostsTOML() (files map[string]string, warnings []string, err error) {
	files = map[string]string{}
	registries := map[string]bool{}
	for name := range r.Mirrors {
		registries[name] = true
	}
	for name, cfg := range r.Configs {
		registries[name] = true
		if cfg.Auth != nil {
			warnings = append(warnings, fmt.Sprintf("registries.yaml: credentials for %s are not supported by the k3sbox test image and are ignored", name))
		}
	}
	names := make([]string, 0, len(registries))
	for n := range registries {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		var b strings.Builder
		dir := name
		if name == "*" {
			dir = "_default"
		} else {
			fmt.Fprintf(&b, "server = %q\n", defaultEndpoint(name))
			r.writeTLS(&b, name, "")
		}
		for _, ep := range r.Mirrors[name].Endpoints {
			u, overridePath, err := endpointURL(ep)
			if err != nil {
				return nil, nil, fmt.Errorf("registries.yaml: mirror %s: %w", name, err)
			}
			fmt.Fprintf(&b, "\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n", u)
			if overridePath {
				b.WriteString("  override_path = true\n")
			}
			r.writeTLS(&b, hostOf(ep), "  ")
		}
		if len(r.Mirrors[name].Rewrites) > 0 {
			warnings = append(warnings, fmt.Sprintf("registries.yaml: rewrite rules for %s are not supported by the k3sbox test image and are ignored", name))
		}
		files[dir] = b.String()
	}
	return files, warnings, nil
}

// writeTLS adds the `configs` TLS settings of host, if any.
func (r *registriesFile) writeTLS(b *strings.Builder, host, indent string) {
	cfg, ok := r.Configs[host]
	if !ok || cfg.TLS == nil {
		return
	}
	if cfg.TLS.InsecureSkipVerify {
		fmt.Fprintf(b, "%sskip_verify = true\n", indent)
	}
	if cfg.TLS.CAFile != "" {
		fmt.Fprintf(b, "%sca = %q\n", indent, cfg.TLS.CAFile)
	}
	if cfg.TLS.CertFile != "" && cfg.TLS.KeyFile != "" {
		fmt.Fprintf(b, "%sclient = [[%q, %q]]\n", indent, cfg.TLS.CertFile, cfg.TLS.KeyFile)
	}
}

// defaultEndpoint is where a registry is reached without a mirror.
func defaultEndpoint(registry string) string {
	if registry == "docker.io" {
		return "https://registry-1.docker.io"
	}
	return "https://" + registry
}

// endpointURL normalises a mirror endpoint like k3s: a bare host gets
// https://; a path other than "/" is used as given (override_path) with
// "/v2" appended when missing.
func endpointURL(ep string) (string, bool, error) {
	if !strings.Contains(ep, "://") {
		ep = "https://" + ep
	}
	u, err := url.Parse(ep)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", false, fmt.Errorf("invalid endpoint %q (want http(s)://host[:port][/path])", ep)
	}
	path := strings.TrimSuffix(u.Path, "/")
	if path == "" {
		return u.Scheme + "://" + u.Host, false, nil
	}
	if !strings.HasSuffix(path, "/v2") {
		path += "/v2"
	}
	return u.Scheme + "://" + u.Host + path, true, nil
}

// hostOf is the host[:port] of an endpoint, the key `configs` uses.
func hostOf(ep string) string {
	if !strings.Contains(ep, "://") {
		ep = "https://" + ep
	}
	if u, err := url.Parse(ep); err == nil {
		return u.Host
	}
	return ep
}

// writeHostsDir replaces dir's content with the hosts.toml files.
func writeHostsDir(dir string, files map[string]string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	for name, content := range files {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		if err := writeFile(filepath.Join(d, "hosts.toml"), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}
