package main

// `k3s agent`: a node that joins a server. It fetches the cluster CA from
// the server's supervisor (supervisor.go) and checks it against the hash in
// the join token, gets its node's certificates with the token's password,
// then runs containerd, the kubelet and kube-proxy like a server's node, and
// host-gw (hostgw.go) once the controller-manager gave the node its podCIDR.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// joinTimeout bounds how long an agent waits for its server to answer.
const joinTimeout = 3 * time.Minute

func runAgent(args []string) int {
	started := time.Now()
	c, err := parseAgentFlags(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "k3s agent: %v\n", err)
		return 2
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-sigs
		cancel()
	}()
	s, err := prepareAgent(ctx, c)
	if err != nil {
		logf("error", "k3s agent: %v", err)
		return 1
	}
	startErr := make(chan error, 1)
	go func() { startErr <- s.startAgentNode(ctx, started) }()
	shutdown := func() { cancel(); s.sup.stopAll(stopGrace) }
	for {
		select {
		case <-ctx.Done():
			logf("info", "stopping components")
			shutdown()
			logf("info", "stopped")
			return 0
		case ch := <-s.sup.exited:
			logf("error", "%s", ch.failure())
			shutdown()
			return 1
		case err := <-startErr:
			startErr = nil
			if err == nil {
				continue
			}
			if ctx.Err() != nil {
				continue // stopping: the case above reports it
			}
			logf("error", "agent startup failed: %v", err)
			shutdown()
			return 1
		}
	}
}

// agentLayout keeps an agent's credentials and logs under <data-dir>/agent.
func agentLayout(dataDir string) layout {
	a := filepath.Join(dataDir, "agent")
	return layout{Server: a, TLS: filepath.Join(a, "tls"), Cred: filepath.Join(a, "cred"), Logs: filepath.Join(a, "logs"), Etc: filepath.Join(a, "etc")}
}

// resolveNodeIdentity fills in what a server and an agent default alike: the
// node's name (the lower-cased hostname, as k3s names it) and the absolute
// data directory.
func resolveNodeIdentity(c *serverConfig) error {
	if c.NodeName == "" {
		host, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("--node-name not set and no hostname: %w", err)
		}
		c.NodeName = strings.ToLower(host)
	}
	dataDir, err := filepath.Abs(c.DataDir)
	if err != nil {
		return err
	}
	c.DataDir = dataDir
	return nil
}

// prepareAgent joins: CA, credentials, then the node's configuration.
func prepareAgent(ctx context.Context, c *serverConfig) (*server, error) {
	if err := resolveNodeIdentity(c); err != nil {
		return nil, err
	}
	s := &server{cfg: c, dirs: agentLayout(c.DataDir), bins: map[string]string{}}
	if ok, why := chooseRealNode(s.bins); !ok {
		return nil, fmt.Errorf("an agent is a real node, and none can run here: %s", why)
	}
	for _, d := range []string{s.dirs.TLS, s.dirs.Cred, s.dirs.Logs, s.dirs.Etc} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	nodeIP, err := nodeIPOf(c)
	if err != nil {
		return nil, err
	}
	s.nodeIP = nodeIP

	raw, err := readTokenFlag(c)
	if err != nil {
		return nil, err
	}
	token, err := parseToken(raw)
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	if token.CAHash == "" {
		return nil, errors.New("token: the test image's agent needs the full token (K10<CA hash>::server:<password>, the server's /var/lib/rancher/k3s/server/token), to verify the server's CA")
	}
	u, err := url.Parse(c.ServerURL)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" {
		return nil, fmt.Errorf("invalid --server %q (want https://<host>:6443)", c.ServerURL)
	}
	s.apiURL = strings.TrimSuffix(c.ServerURL, "/")
	supervisor := "https://" + net.JoinHostPort(u.Hostname(), fmt.Sprint(supervisorPort))

	jctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	caPEM, err := fetchCA(jctx, supervisor, token.CAHash)
	if err != nil {
		return nil, err
	}
	creds, err := requestCredentials(jctx, supervisor, caPEM, token.Password, nodeCredentialsRequest{NodeName: c.NodeName, NodeIP: s.nodeIP})
	if err != nil {
		return nil, err
	}
	c.ClusterCIDR, c.ServiceCIDR, c.ClusterDNS, c.ClusterDomain = creds.ClusterCIDR, creds.ServiceCIDR, creds.ClusterDNS, creds.ClusterDomain

	s.pki = &pki{Dir: s.dirs.TLS, CACert: filepath.Join(s.dirs.TLS, "server-ca.crt"), CAPEM: caPEM}
	if err := writeFile(s.pki.CACert, caPEM, 0o644); err != nil {
		return nil, err
	}
	pair := func(name string, p pemPair) (certPair, error) {
		cp := certPair{filepath.Join(s.dirs.TLS, name+".crt"), filepath.Join(s.dirs.TLS, name+".key")}
		if err := writeFile(cp.Key, []byte(p.Key), 0o600); err != nil {
			return cp, err
		}
		return cp, writeFile(cp.Cert, []byte(p.Cert), 0o644)
	}
	nc := &nodeCredentials{}
	for _, it := range []struct {
		name string
		src  pemPair
		dst  *certPair
	}{{"client-kubelet", creds.Kubelet, &nc.Kubelet}, {"serving-kubelet", creds.KubeletServing, &nc.KubeletServing}, {"client-kube-proxy", creds.KubeProxy, &nc.KubeProxy}} {
		if *it.dst, err = pair(it.name, it.src); err != nil {
			return nil, err
		}
	}
	// The kubelet may set its own labels except the node-role ones
	// (NodeRestriction), which an agent does not get anyway.
	if len(c.NodeLabels) > 0 {
		c.KubeletArgs = append([]string{"node-labels=" + strings.Join(c.NodeLabels, ",")}, c.KubeletArgs...)
	}
	if err := s.setupNode(nc); err != nil {
		return nil, fmt.Errorf("preparing the node: %w", err)
	}
	s.agentCreds = nc
	s.sup = newSupervisor(s.dirs.Logs)
	logf("info", "joined %s as node %s (%s)", c.ServerURL, c.NodeName, s.nodeIP)
	return s, nil
}

// startAgentNode runs the node's components, then waits for its podCIDR
// to write the pod network's configuration and start host-gw.
func (s *server) startAgentNode(ctx context.Context, started time.Time) error {
	if err := s.startContainerd(ctx); err != nil {
		return err
	}
	if err := s.startAgents(ctx); err != nil {
		return err
	}
	logf("info", "kubelet and kube-proxy started after %.1fs", time.Since(started).Seconds())
	api, err := newAPIClientAs(s.apiURL, s.pki.CAPEM, s.agentCreds.KubeProxy)
	if err != nil {
		return err
	}
	podCIDR, err := waitPodCIDR(ctx, api, s.cfg.NodeName)
	if err != nil {
		return err
	}
	s.podCIDR = podCIDR
	if err := ensureMasquerade(podCIDR, s.cfg.ClusterCIDR); err != nil {
		return fmt.Errorf("host-gw: %w", err)
	}
	if err := writeFile(cniConfPath(s.node.dirs), cniConfList(podCIDR), 0o600); err != nil {
		return err
	}
	go runHostGW(ctx, api, s.cfg.NodeName)
	logf("info", "Node %s registered by its kubelet with podCIDR %s; agent is up and running (%.1fs)", s.cfg.NodeName, podCIDR, time.Since(started).Seconds())
	return nil
}

// waitPodCIDR waits until node IPAM gave the node a podCIDR.
func waitPodCIDR(ctx context.Context, api *apiClient, name string) (string, error) {
	deadline := time.Now().Add(joinTimeout)
	for {
		status, body, err := api.do(ctx, http.MethodGet, "/api/v1/nodes/"+name, "", nil)
		if err == nil && status == http.StatusOK {
			var n struct {
				Spec struct {
					PodCIDR string `json:"podCIDR"`
				} `json:"spec"`
			}
			if json.Unmarshal(body, &n) == nil && n.Spec.PodCIDR != "" {
				return n.Spec.PodCIDR, nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("node %s got no podCIDR within %s (last: HTTP %d %v)", name, joinTimeout, status, err)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// fetchCA downloads the CA bundle from the supervisor and accepts it only
// if its sha256 is the token's hash. The download itself cannot verify the
// server (the CA is what it fetches); the hash is what makes it safe.
func fetchCA(ctx context.Context, supervisor, hash string) ([]byte, error) {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // verified against the token's hash below
	}}
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, supervisor+"/cacerts", nil)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err == nil {
			body, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			switch {
			case rerr != nil:
				last = rerr
			case resp.StatusCode != http.StatusOK:
				last = fmt.Errorf("HTTP %d", resp.StatusCode)
			case caHash(body) != hash:
				return nil, fmt.Errorf("the CA %s serves does not match the token's hash: wrong token, or not this cluster's server", supervisor)
			default:
				return body, nil
			}
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the server's supervisor %s did not answer (last: %v)", supervisor, last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// requestCredentials asks the supervisor (verified against the CA) for
// the node's certificates.
func requestCredentials(ctx context.Context, supervisor string, caPEM []byte, password string, body nodeCredentialsRequest) (*nodeCredentialsResponse, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("the server's CA bundle has no certificate")
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	data, _ := json.Marshal(body)
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, supervisor+"/v1-k3s/node-credentials", bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		req.SetBasicAuth("node", password)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err == nil {
			out, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			switch {
			case rerr != nil:
				last = rerr
			case resp.StatusCode == http.StatusUnauthorized:
				return nil, errors.New("the server refused the token's password")
			case resp.StatusCode != http.StatusOK:
				return nil, fmt.Errorf("node credentials: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(out)))
			default:
				var creds nodeCredentialsResponse
				if err := json.Unmarshal(out, &creds); err != nil {
					return nil, fmt.Errorf("node credentials: %w", err)
				}
				return &creds, nil
			}
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("node credentials from %s: %v", supervisor, last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
