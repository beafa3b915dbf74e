package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseToken(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	tok, err := parseToken("K10" + hash + "::server:s3cret\n")
	if err != nil || tok.CAHash != hash || tok.Password != "s3cret" {
		t.Fatalf("parseToken = %+v, %v", tok, err)
	}
	if tok.String() != "K10"+hash+"::server:s3cret" {
		t.Errorf("String() = %q", tok.String())
	}
	if bare, err := parseToken("plain"); err != nil || bare.Password != "plain" || bare.CAHash != "" {
		t.Errorf("bare token = %+v, %v", bare, err)
	}
	for _, bad := range []string{"", "K10abc::server:x", "K10" + hash + "::server:", "K10" + hash} {
		if _, err := parseToken(bad); err == nil {
			t.Errorf("parseToken(%q) accepted", bad)
		}
	}
}

func TestParseAgentFlags(t *testing.T) {
	t.Setenv("K3S_URL", "")
	t.Setenv("K3S_TOKEN", "")
	t.Setenv("K3S_TOKEN_FILE", "")
	c, err := parseAgentFlags([]string{"--server", "https://k8s.internal:6443", "--token-file=/t", "--node-name=k8s-agent-1", "--node-label=a=b", "--kubelet-arg=v=2", "--with-node-id"})
	if err != nil {
		t.Fatal(err)
	}
	if c.ServerURL != "https://k8s.internal:6443" || c.TokenFile != "/t" || c.NodeName != "k8s-agent-1" || len(c.NodeLabels) != 1 || len(c.KubeletArgs) != 1 {
		t.Errorf("parsed %+v", c)
	}
	if _, err := parseAgentFlags([]string{"--token=x"}); err == nil || !strings.Contains(err.Error(), "--server") {
		t.Errorf("no --server: %v", err)
	}
	if _, err := parseAgentFlags([]string{"--server=https://a:6443"}); err == nil || !strings.Contains(err.Error(), "--token") {
		t.Errorf("no token: %v", err)
	}
	if _, err := parseAgentFlags([]string{"--server=https://a:6443", "--token=x", "--cluster-init"}); err == nil {
		t.Error("a server-only flag was accepted by agent")
	}
}

// The join, end to end in one process: the token written by the server
// verifies the CA the supervisor serves, the password gets a node's
// certificates signed by the cluster CA, and a wrong password or a wrong
// hash gets nothing.
func TestSupervisorJoin(t *testing.T) {
	dir := t.TempDir()
	c, _ := parseServerFlags([]string{"--data-dir=" + dir, "--bind-address=127.0.0.1"})
	s := &server{cfg: c, dirs: newLayout(dir)}
	var err error
	if s.pki, err = ensurePKI(s.dirs.TLS, []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")}); err != nil {
		t.Fatal(err)
	}
	tok, err := ensureToken(c, s.dirs, s.pki.CAPEM)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(s.dirs.Server, "token")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", st, err)
	}
	again, _ := ensureToken(c, s.dirs, s.pki.CAPEM)
	if again.Password != tok.Password {
		t.Error("the token's password changed on restart")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.startSupervisor(ctx, tok); err != nil {
		t.Skipf("cannot listen on 127.0.0.1:%d here: %v", supervisorPort, err)
	}
	url := "https://127.0.0.1:9345"
	ca, err := fetchCA(ctx, url, tok.CAHash)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fetchCA(ctx, url, strings.Repeat("0", 64)); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("a wrong hash: %v", err)
	}
	if _, err := requestCredentials(ctx, url, ca, "wrong", nodeCredentialsRequest{NodeName: "n1", NodeIP: "10.0.0.5"}); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("a wrong password: %v", err)
	}
	creds, err := requestCredentials(ctx, url, ca, tok.Password, nodeCredentialsRequest{NodeName: "n1", NodeIP: "10.0.0.5"})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	b, _ := pem.Decode([]byte(creds.Kubelet.Cert))
	cert, _ := x509.ParseCertificate(b.Bytes)
	if cert.Subject.CommonName != "system:node:n1" || cert.Subject.Organization[0] != "system:nodes" {
		t.Errorf("kubelet subject %v", cert.Subject)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("kubelet cert: %v", err)
	}
	b, _ = pem.Decode([]byte(creds.KubeletServing.Cert))
	serving, _ := x509.ParseCertificate(b.Bytes)
	if _, err := serving.Verify(x509.VerifyOptions{Roots: roots, DNSName: "10.0.0.5"}); err != nil {
		t.Errorf("kubelet serving cert for its IP: %v", err)
	}
	if creds.ClusterDNS != c.ClusterDNS || creds.ClusterCIDR != c.ClusterCIDR {
		t.Errorf("cluster settings %+v", creds)
	}
}
