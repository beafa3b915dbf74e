package main

// `k3s server`: prepare the data directory, start the components in order
// and supervise them until a signal arrives or one of them dies.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// stopGrace is how long components get to exit after SIGTERM before they
// are killed; it stays below `docker stop`'s default 10s.
const stopGrace = 6 * time.Second

// controlPlane are the bundled binaries every `k3s server` runs; kwok
// stands in for the node agents when no real node can run.
var controlPlane = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}

func runServer(args []string) int {
	started := time.Now()
	c, err := parseServerFlags(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "k3s server: %v\n", err)
		return 2
	}
	s, err := prepare(c)
	if err != nil {
		logf("error", "k3s server: %v", err)
		return 1
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	startErr := make(chan error, 1)
	go func() { startErr <- s.start(ctx, started) }()

	shutdown := func() { cancel(); s.sup.stopAll(stopGrace) }
	for {
		select {
		case sig := <-sigs:
			logf("info", "received %s, stopping components", sig)
			shutdown()
			logf("info", "stopped")
			return 0
		case ch := <-s.sup.exited:
			logf("error", "%s", ch.failure())
			shutdown()
			return 1
		case err := <-startErr:
			startErr = nil // the startup goroutine is done; a nil channel blocks
			if err == nil {
				continue
			}
			var exited *childExitError
			if errors.As(err, &exited) {
				logf("error", "%v", err) // the child's failure, as for a later exit
			} else {
				logf("error", "startup failed: %v", err)
			}
			shutdown()
			return 1
		}
	}
}

// server is a prepared `k3s server`: config, paths, PKI and binaries.
type server struct {
	cfg       *serverConfig
	dirs      layout
	pki       *pki
	bins      map[string]string
	nodeIP    string
	podCIDR   string
	advertise string
	apiURL    string // how local clients reach the apiserver
	sup       *supervisor
	node      *node // nil when kwok fakes the node
	token     joinToken
	// agentCreds are an agent's node credentials (nil on a server).
	agentCreds *nodeCredentials
}

// prepare does everything that needs no running process: defaults,
// directories, certificates, kubeconfigs and the kwok configuration.
func prepare(c *serverConfig) (*server, error) {
	if len(c.Ignored) > 0 {
		logf("info", "ignoring %s: no effect in the test image", strings.Join(c.Ignored, ", "))
	}
	if c.ResolvConf != "" {
		if _, err := os.Stat(c.ResolvConf); err != nil {
			logf("warn", "--resolv-conf=%s: %v", c.ResolvConf, err)
		}
	}
	err := resolveNodeIdentity(c)
	if err != nil {
		return nil, err
	}

	s := &server{cfg: c, dirs: newLayout(c.DataDir), bins: map[string]string{}}
	realNode, why := chooseRealNode(s.bins)
	components := controlPlane
	if !realNode && os.Getenv("K3SBOX_NODE") == "real" {
		// Asked for a real node: an error, never a silent fake one.
		return nil, fmt.Errorf("no real node can run here: %s", why)
	}
	if !realNode {
		logf("info", "no real node: %s; kwok fakes the node and its pods", why)
		components = append(components, "kwok")
	}
	for _, name := range components {
		if s.bins[name], err = findBinary(name); err != nil {
			return nil, err
		}
	}
	for _, d := range []string{s.dirs.TLS, s.dirs.Cred, s.dirs.DB, s.dirs.Logs, s.dirs.Etc, s.dirs.Kwok} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}

	if s.nodeIP, err = nodeIPOf(c); err != nil {
		return nil, err
	}
	s.advertise = s.nodeIP
	if c.AdvertiseAddress != "" {
		if net.ParseIP(c.AdvertiseAddress) == nil {
			return nil, fmt.Errorf("invalid --advertise-address %q", c.AdvertiseAddress)
		}
		s.advertise = c.AdvertiseAddress
	}
	if s.podCIDR, err = nodePodCIDR(c.ClusterCIDR); err != nil {
		return nil, err
	}

	// Clients on this host connect to 127.0.0.1, unless the apiserver is
	// bound to one specific address.
	bind := net.ParseIP(c.BindAddress)
	if bind == nil {
		return nil, fmt.Errorf("invalid --bind-address %q", c.BindAddress)
	}
	local := "127.0.0.1"
	if !bind.IsUnspecified() {
		local = bind.String()
	}
	s.apiURL = "https://" + net.JoinHostPort(local, strconv.Itoa(c.HTTPSListenPort))

	dnsSANs, ipSANs, err := servingSANs(c, net.ParseIP(s.nodeIP), bind, net.ParseIP(s.advertise))
	if err != nil {
		return nil, err
	}
	if s.pki, err = ensurePKI(s.dirs.TLS, dnsSANs, ipSANs); err != nil {
		return nil, err
	}

	// Like k3s, a server always has a join token (server/token).
	if s.token, err = ensureToken(c, s.dirs, s.pki.CAPEM); err != nil {
		return nil, fmt.Errorf("join token: %w", err)
	}

	p := s.pki
	for file, pair := range map[string]certPair{"admin": p.Admin, "controller": p.Manager, "scheduler": p.Scheduler} {
		kc := componentKubeconfig(s.apiURL, p.CACert, pair)
		if err := writeFile(filepath.Join(s.dirs.Cred, file+".kubeconfig"), kc, 0o600); err != nil {
			return nil, err
		}
	}
	if realNode {
		if err := s.prepareNode(); err != nil {
			return nil, fmt.Errorf("preparing the node: %w", err)
		}
	} else if err := writeFile(filepath.Join(s.dirs.Etc, "kwok.yaml"), kwokStages, 0o644); err != nil {
		return nil, err
	}
	// Like k3s, the kubeconfig appears before the apiserver answers;
	// clients poll /readyz.
	kc, err := adminKubeconfig(s.apiURL, p)
	if err != nil {
		return nil, err
	}
	if err := writeKubeconfigFile(c.WriteKubeconfig, kc, c.WriteKubeconfigMode); err != nil {
		return nil, fmt.Errorf("writing kubeconfig: %w", err)
	}
	logf("info", "Wrote kubeconfig %s", c.WriteKubeconfig)

	s.sup = newSupervisor(s.dirs.Logs)
	return s, nil
}

// start runs the components in dependency order and creates the node.
func (s *server) start(ctx context.Context, started time.Time) error {
	c := s.cfg
	logf("info", "Starting k3s-compatible server %s (node %s, IP %s, data %s)", kubeVersion, c.NodeName, s.nodeIP, c.DataDir)

	if s.node != nil {
		// containerd and the image import overlap with the control plane's start.
		if err := s.startContainerd(ctx); err != nil {
			return err
		}
	}
	etcd, err := s.startEtcd(ctx)
	if err != nil {
		return err
	}
	logf("info", "etcd ready on %s after %.1fs", etcd, time.Since(started).Seconds())

	api, err := newAPIClient(s.apiURL, s.pki)
	if err != nil {
		return err
	}
	apiserver, err := s.sup.start("kube-apiserver", 1, s.bins["kube-apiserver"], apiserverArgs(c, s.dirs, s.pki, etcd, s.advertise), nil, true)
	if err != nil {
		return err
	}
	if err := api.waitReady(ctx, apiserver); err != nil {
		return err
	}
	logf("info", "kube-apiserver ready at %s after %.1fs", s.apiURL, time.Since(started).Seconds())

	// Started only now: on two cores they would slow the apiserver down,
	// and they only retry until it answers anyway.
	rest := []struct {
		name string
		args []string
		env  []string
	}{
		{"kube-controller-manager", controllerManagerArgs(c, s.dirs, s.pki, s.node != nil), nil},
		{"kube-scheduler", schedulerArgs(c, s.dirs), nil},
	}
	if s.node == nil {
		// KWOK_WORKDIR keeps kwok away from ~/.kwok (a host user's config).
		rest = append(rest, struct {
			name string
			args []string
			env  []string
		}{"kwok", kwokArgs(s.dirs, s.nodeIP, s.podCIDR), []string{"KWOK_WORKDIR=" + s.dirs.Kwok}})
	}
	for _, r := range rest {
		if _, err := s.sup.start(r.name, 2, s.bins[r.name], r.args, r.env, true); err != nil {
			return err
		}
	}

	if err := bootstrapObjects(ctx, api, c, s.nodeIP, s.podCIDR, kubeVersion, s.node == nil); err != nil {
		return err
	}
	if s.node == nil {
		logf("info", "Node %s registered (fake node managed by kwok); coredns NodeHosts written", c.NodeName)
		logf("info", "k3s is up and running (%.1fs)", time.Since(started).Seconds())
		return nil
	}
	if err := ensureMasquerade(s.podCIDR, c.ClusterCIDR); err != nil {
		return fmt.Errorf("host-gw: %w", err)
	}
	if err := s.startSupervisor(ctx, s.token); err != nil {
		return err
	}
	if err := s.startAgents(ctx); err != nil {
		return err
	}
	logf("info", "kubelet and kube-proxy started after %.1fs", time.Since(started).Seconds())
	go runHostGW(ctx, api, c.NodeName)
	if !c.disabled("coredns") {
		if err := deployCoreDNS(ctx, api, c, s.node.coreDNSImage); err != nil {
			return err
		}
	}
	if !c.disabled("local-storage") {
		if err := deployLocalPath(ctx, api, c); err != nil {
			return err
		}
	}
	if err := labelNode(ctx, api, c); err != nil {
		return err
	}
	logf("info", "Node %s registered by its kubelet; k3s is up and running (%.1fs)", c.NodeName, time.Since(started).Seconds())
	return nil
}

// startEtcd starts etcd on free loopback ports and waits until it is
// healthy. If another process grabbed one of the ports between picking and
// binding, it tries again with new ones.
func (s *server) startEtcd(ctx context.Context) (etcdPorts, error) {
	for attempt := 1; ; attempt++ {
		var ports etcdPorts
		var err error
		if ports.Client, err = freePort("127.0.0.1"); err != nil {
			return ports, err
		}
		if ports.Peer, err = freePort("127.0.0.1"); err != nil {
			return ports, err
		}
		etcd, err := s.sup.start("etcd", 0, s.bins["etcd"], etcdArgs(s.cfg, s.dirs, ports), nil, false)
		if err != nil {
			return ports, err
		}
		err = waitEtcd(ctx, etcd, ports)
		if err == nil {
			s.sup.markCritical(etcd)
			return ports, nil
		}
		if etcd.exited() && attempt < 3 && logContains(etcd, "address already in use") {
			logf("warn", "etcd port collision, retrying with other ports")
			continue
		}
		if etcd.exited() {
			return ports, &childExitError{etcd}
		}
		return ports, err
	}
}

func (p etcdPorts) String() string { return fmt.Sprintf("127.0.0.1:%d", p.Client) }

// waitEtcd polls etcd's /health endpoint.
func waitEtcd(ctx context.Context, etcd *child, ports etcdPorts) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.After(60 * time.Second)
	for {
		if resp, err := client.Get(ports.clientURL() + "/health"); err == nil {
			ok := resp.StatusCode == http.StatusOK
			resp.Body.Close()
			if ok {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-etcd.done:
			return errors.New("etcd exited")
		case <-deadline:
			return fmt.Errorf("etcd not healthy after 60s; see %s", etcd.logPath)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// servingSANs lists the names the apiserver's certificate is valid for: the
// loopback addresses, the node's name and IPs, the in-cluster names and IP
// of the kubernetes Service, every address of the host and every --tls-san.
func servingSANs(c *serverConfig, nodeIP, bind, advertise net.IP) ([]string, []net.IP, error) {
	serviceIP, err := firstIP(strings.Split(c.ServiceCIDR, ",")[0])
	if err != nil {
		return nil, nil, fmt.Errorf("invalid --service-cidr %q: %w", c.ServiceCIDR, err)
	}
	dns := []string{"localhost", c.NodeName, "kubernetes", "kubernetes.default", "kubernetes.default.svc",
		"kubernetes.default.svc." + c.ClusterDomain}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, serviceIP, nodeIP, advertise}
	ips = append(ips, hostIPs()...)
	if !bind.IsUnspecified() {
		ips = append(ips, bind)
	}
	sanDNS, sanIPs := splitSANs(c.TLSSANs)
	return dedupe(append(dns, sanDNS...)), dedupeIPs(append(ips, sanIPs...)), nil
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range in {
		if v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func dedupeIPs(in []net.IP) []net.IP {
	seen := map[string]bool{}
	var out []net.IP
	for _, ip := range in {
		if ip != nil && !seen[ip.String()] {
			seen[ip.String()] = true
			out = append(out, ip)
		}
	}
	return out
}
