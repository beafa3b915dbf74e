package main

// Joining agents, the server's side. Real k3s serves its join endpoints on
// the apiserver's port (its supervisor and the apiserver share one
// process); here the apiserver is a separate upstream binary that owns
// 6443, so the node entry's supervisor listens on supervisorPort (9345, the
// port RKE2 uses for the same purpose) on every address, with the
// apiserver's serving certificate.
//
// The join token has k3s's full form, K10<sha256 of the CA bundle>::server:<password>,
// written to <data-dir>/server/token (0600) as k3s does: an agent verifies
// the CA it fetches from /cacerts against the hash, then proves the password
// (HTTP basic auth "node:<password>") to get its node's certificates.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

const supervisorPort = 9345

// joinToken is a parsed k3s token.
type joinToken struct {
	CAHash   string // hex sha256 of the CA bundle; empty for a bare password
	Password string
}

func (t joinToken) String() string { return "K10" + t.CAHash + "::server:" + t.Password }

// parseToken reads K10<hash>::<user>:<password>, or a bare password.
func parseToken(s string) (joinToken, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return joinToken{}, errors.New("empty token")
	}
	if !strings.HasPrefix(s, "K10") {
		return joinToken{Password: s}, nil
	}
	hash, creds, ok := strings.Cut(strings.TrimPrefix(s, "K10"), "::")
	if !ok {
		return joinToken{}, errors.New("malformed token: K10 with no '::'")
	}
	_, password, ok := strings.Cut(creds, ":")
	if !ok || password == "" {
		return joinToken{}, errors.New("malformed token: no password after '::<user>:'")
	}
	if len(hash) != 64 {
		return joinToken{}, errors.New("malformed token: the CA hash is not a sha256")
	}
	return joinToken{CAHash: strings.ToLower(hash), Password: password}, nil
}

// readTokenFlag returns --token, else the content of --token-file.
func readTokenFlag(c *serverConfig) (string, error) {
	if c.Token != "" {
		return c.Token, nil
	}
	if c.TokenFile == "" {
		return "", nil
	}
	data, err := os.ReadFile(c.TokenFile)
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}

func caHash(caPEM []byte) string {
	sum := sha256.Sum256(caPEM)
	return hex.EncodeToString(sum[:])
}

// ensureToken picks the join password (--token/--token-file, else the one
// an earlier start wrote, else a random one) and writes the full token.
func ensureToken(c *serverConfig, l layout, caPEM []byte) (joinToken, error) {
	path := filepath.Join(l.Server, "token")
	given, err := readTokenFlag(c)
	if err != nil {
		return joinToken{}, err
	}
	password := ""
	if given != "" {
		t, err := parseToken(given)
		if err != nil {
			return joinToken{}, err
		}
		if t.CAHash != "" && t.CAHash != caHash(caPEM) {
			return joinToken{}, errors.New("--token names another cluster CA than this server's")
		}
		password = t.Password
	} else if old, err := os.ReadFile(path); err == nil {
		if t, err := parseToken(string(old)); err == nil {
			password = t.Password
		}
	}
	if password == "" {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return joinToken{}, err
		}
		password = hex.EncodeToString(b)
	}
	t := joinToken{CAHash: caHash(caPEM), Password: password}
	if err := writeFile(path, []byte(t.String()+"\n"), 0o600); err != nil {
		return joinToken{}, err
	}
	_ = os.Remove(filepath.Join(l.Server, "node-token"))
	if err := os.Symlink("token", filepath.Join(l.Server, "node-token")); err != nil {
		logf("warn", "node-token link: %v", err)
	}
	return t, nil
}

// nodeCredentialsRequest and nodeCredentialsResponse are the join exchange.
type nodeCredentialsRequest struct {
	NodeName string `json:"nodeName"`
	NodeIP   string `json:"nodeIP"`
}

type pemPair struct {
	Cert string `json:"cert"`
	Key  string `json:"key"`
}

type nodeCredentialsResponse struct {
	Kubelet        pemPair `json:"kubelet"`
	KubeletServing pemPair `json:"kubeletServing"`
	KubeProxy      pemPair `json:"kubeProxy"`
	ClusterCIDR    string  `json:"clusterCIDR"`
	ServiceCIDR    string  `json:"serviceCIDR"`
	ClusterDNS     string  `json:"clusterDNS"`
	ClusterDomain  string  `json:"clusterDomain"`
}

var nodeNamePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$`)

// startSupervisor serves /cacerts and /v1-k3s/node-credentials until ctx ends.
func (s *server) startSupervisor(ctx context.Context, token joinToken) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cacerts", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(s.pki.CAPEM)
	})
	mux.HandleFunc("POST /v1-k3s/node-credentials", func(w http.ResponseWriter, r *http.Request) {
		user, password, ok := r.BasicAuth()
		if !ok || user != "node" || subtle.ConstantTimeCompare([]byte(password), []byte(token.Password)) != 1 {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		var req nodeCredentialsRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
			http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
			return
		}
		ip := net.ParseIP(req.NodeIP)
		if !nodeNamePattern.MatchString(req.NodeName) || ip == nil {
			http.Error(w, "bad request: nodeName must be a DNS name and nodeIP an IP address", http.StatusBadRequest)
			return
		}
		resp, err := s.agentCredentials(req.NodeName, ip)
		if err != nil {
			logf("error", "issuing credentials for node %s: %v", req.NodeName, err)
			http.Error(w, "cannot issue credentials", http.StatusInternalServerError)
			return
		}
		logf("info", "issued credentials for agent node %s (%s)", req.NodeName, ip)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	})
	ln, err := net.Listen("tcp", net.JoinHostPort(s.cfg.BindAddress, strconv.Itoa(supervisorPort)))
	if err != nil {
		return fmt.Errorf("supervisor: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	go func() {
		if err := srv.ServeTLS(ln, s.pki.Serving.Cert, s.pki.Serving.Key); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logf("error", "supervisor: %v", err)
		}
	}()
	logf("info", "supervisor for joining agents on :%d", supervisorPort)
	return nil
}

// agentCredentials issues an agent node's certificates from the cluster CA:
// the kubelet's client (system:node:<name>) and serving certificates, and
// kube-proxy's client certificate.
func (s *server) agentCredentials(name string, ip net.IP) (*nodeCredentialsResponse, error) {
	ca, caKey, err := loadOrCreateCA(s.pki.CACert, s.pki.CAKey, "k3s-server-ca")
	if err != nil {
		return nil, err
	}
	c := s.cfg
	out := &nodeCredentialsResponse{ClusterCIDR: c.ClusterCIDR, ServiceCIDR: c.ServiceCIDR, ClusterDNS: c.ClusterDNS, ClusterDomain: c.ClusterDomain}
	kubelet := newClientTemplate("system:node:"+name, "system:nodes")
	proxy := newClientTemplate("system:kube-proxy", "")
	serving := newServingTemplate(name, []string{name, "localhost"}, []net.IP{ip, net.IPv4(127, 0, 0, 1)})
	for _, it := range []struct {
		tmpl *x509Template
		dst  *pemPair
	}{{&kubelet, &out.Kubelet}, {&proxy, &out.KubeProxy}, {&serving, &out.KubeletServing}} {
		cert, key, err := issuePEM(it.tmpl, ca, caKey)
		if err != nil {
			return nil, err
		}
		*it.dst = pemPair{Cert: string(cert), Key: string(key)}
	}
	return out, nil
}
