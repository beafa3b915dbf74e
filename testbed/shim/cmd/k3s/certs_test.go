package main

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestPKI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	p, err := ensurePKI(dir, []string{"localhost", "k8s.internal"}, []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.45.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(p.CAPEM)

	serving := readCert(t, p.Serving.Cert)
	for _, host := range []string{"localhost", "k8s.internal", "127.0.0.1", "10.45.0.1"} {
		if _, err := serving.Verify(x509.VerifyOptions{Roots: roots, DNSName: host}); err != nil {
			t.Errorf("serving cert does not verify for %s: %v", host, err)
		}
	}
	admin := readCert(t, p.Admin.Cert)
	if admin.Subject.CommonName != "system:admin" || !slices.Equal(admin.Subject.Organization, []string{"system:masters"}) {
		t.Errorf("admin subject = %v", admin.Subject)
	}
	if _, err := admin.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("admin cert: %v", err)
	}
	for _, key := range []string{p.CAKey, p.SAKey, p.Serving.Key, p.Admin.Key} {
		if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, err %v", key, st.Mode().Perm(), err)
		}
	}

	// A second start keeps the CA and service-account key.
	sa1, _ := os.ReadFile(p.SAKey)
	p2, err := ensurePKI(dir, []string{"localhost"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sa2, _ := os.ReadFile(p2.SAKey)
	if string(p2.CAPEM) != string(p.CAPEM) || string(sa1) != string(sa2) {
		t.Error("CA or service-account key changed on reuse")
	}
}

func TestCIDRHelpers(t *testing.T) {
	if ip, err := firstIP("10.45.0.0/16"); err != nil || ip.String() != "10.45.0.1" {
		t.Errorf("firstIP = %v, %v", ip, err)
	}
	for in, want := range map[string]string{"10.44.0.0/16": "10.44.0.0/24", "10.42.0.0/25": "10.42.0.0/25", "fd00::/48,10.1.0.0/16": "fd00::/64"} {
		if got, err := nodePodCIDR(in); err != nil || got != want {
			t.Errorf("nodePodCIDR(%s) = %v, %v; want %s", in, got, err, want)
		}
	}
}

// The front proxy has a CA of its own: its client certificate verifies
// against the request-header CA, not the cluster CA (so a client the
// cluster CA signed cannot pass as the proxy), and the CA is kept on reuse.
func TestFrontProxyPKI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	p, err := ensurePKI(dir, []string{"localhost"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	proxy := readCert(t, p.AuthProxy.Cert)
	if proxy.Subject.CommonName != "system:auth-proxy" {
		t.Errorf("front proxy CN = %q", proxy.Subject.CommonName)
	}
	clientAuth := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	rhRoots := x509.NewCertPool()
	rhRoots.AddCert(readCert(t, p.RequestHeaderCACert))
	if _, err := proxy.Verify(x509.VerifyOptions{Roots: rhRoots, KeyUsages: clientAuth}); err != nil {
		t.Errorf("front proxy cert does not verify against the request-header CA: %v", err)
	}
	clusterRoots := x509.NewCertPool()
	clusterRoots.AppendCertsFromPEM(p.CAPEM)
	if _, err := proxy.Verify(x509.VerifyOptions{Roots: clusterRoots, KeyUsages: clientAuth}); err == nil {
		t.Error("front proxy cert verifies against the cluster CA; it must have a CA of its own")
	}
	admin := readCert(t, p.Admin.Cert)
	if _, err := admin.Verify(x509.VerifyOptions{Roots: rhRoots, KeyUsages: clientAuth}); err == nil {
		t.Error("the admin cert verifies against the request-header CA")
	}
	for _, key := range []string{p.RequestHeaderCAKey, p.AuthProxy.Key} {
		if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, err %v", key, st.Mode().Perm(), err)
		}
	}
	ca1, _ := os.ReadFile(p.RequestHeaderCACert)
	p2, err := ensurePKI(dir, []string{"localhost"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ca2, _ := os.ReadFile(p2.RequestHeaderCACert)
	if string(ca1) != string(ca2) {
		t.Error("request-header CA changed on reuse")
	}
}
