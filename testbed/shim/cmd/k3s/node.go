package main

// The real node: containerd (with runc and the CNI plugins), the kubelet and
// kube-proxy, run next to the control plane as k3s's agent does, when the
// image carries them and the container may run them (a writable cgroup
// hierarchy). Otherwise kwok stands in for the kubelet (see components.go).

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// nodeBinaries are what a real node needs besides the control plane.
var nodeBinaries = []string{"containerd", "containerd-shim-runc-v2", "ctr", "runc", "kubelet", "kube-proxy"}

const (
	defaultSandboxImage = "rancher/mirrored-pause:3.6"
	defaultCoreDNSImage = "rancher/mirrored-coredns-coredns:1.14.2"
	overlayfsMagic      = 0x794c7630
)

// node is the prepared state of a real node.
type node struct {
	dirs         nodeLayout
	cgroupRoot   string
	sandboxImage string
	coreDNSImage string
	imported     chan error // result of the airgap image import
}

// chooseRealNode decides between a real node and kwok. K3SBOX_NODE=real or
// kwok forces the choice; by default a real node runs when this is a
// container with the node binaries and a writable cgroup hierarchy.
func chooseRealNode(bins map[string]string) (bool, string) {
	want := os.Getenv("K3SBOX_NODE")
	if want == "kwok" {
		return false, "K3SBOX_NODE=kwok"
	}
	var missing []string
	for _, b := range nodeBinaries {
		p, err := findBinary(b)
		if err != nil {
			missing = append(missing, b)
			continue
		}
		bins[b] = p
	}
	reason := ""
	switch {
	case len(missing) > 0:
		reason = "this image has no " + strings.Join(missing, ", ")
	case !inContainer():
		reason = "not running in a container (a real kubelet would manage this host's cgroups and network)"
	default:
		if _, err := ownCgroup(true); err != nil {
			reason = err.Error()
		}
	}
	if reason == "" {
		return true, ""
	}
	if want == "real" {
		return false, "K3SBOX_NODE=real but " + reason
	}
	return false, reason
}

func inContainer() bool {
	for _, f := range []string{"/.dockerenv", "/run/.containerenv"} {
		if _, err := os.Stat(f); err == nil {
			return true
		}
	}
	mountinfo, _ := os.ReadFile("/proc/self/mountinfo")
	cgroup, _ := os.ReadFile("/proc/self/cgroup")
	return containerEvidence(os.Getenv("container"), string(mountinfo), string(cgroup))
}

// containerEvidence tells a container from its environment, not only from
// marker files: k3s() mounts a tmpfs on /run, which hides Podman's
// /run/.containerenv, and Podman makes no /.dockerenv. Podman (and
// systemd-nspawn, LXC) set $container; Docker and Podman bind-mount the
// container's own hostname/hosts/resolv.conf from their per-container
// directories; cgroup v1 paths name the container.
func containerEvidence(containerEnv, mountinfo, cgroup string) bool {
	if containerEnv != "" {
		return true
	}
	for _, m := range []string{"/docker/containers/", "/overlay-containers/", "/io.containerd.runtime.v2.task/"} {
		if strings.Contains(mountinfo, m) {
			return true
		}
	}
	for _, line := range strings.Split(cgroup, "\n") {
		if strings.Contains(line, "/docker/") || strings.Contains(line, "/libpod-") || strings.Contains(line, "/docker-") {
			return true
		}
	}
	return false
}

// ownCgroup returns this process's cgroup path in the v1 memory hierarchy
// (the same for every controller of a Docker container). With probe, it also
// checks that a child cgroup can be created there.
func ownCgroup(probe bool) (string, error) {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return "", errors.New("cgroup v2 hosts are not supported by the k3sbox test image's node yet")
	}
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	path := ""
	for _, line := range strings.Split(string(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && parts[1] == "memory" {
			path = parts[2]
		}
	}
	if path == "" {
		return "", errors.New("no memory cgroup in /proc/self/cgroup")
	}
	if probe {
		if err := exposeOwnCgroup(path); err != nil {
			return "", fmt.Errorf("the cgroup hierarchy is not writable (%v): run the container privileged, or with a writable /sys/fs/cgroup and cgroupns=host", err)
		}
		dir := filepath.Join("/sys/fs/cgroup/memory", path, fmt.Sprintf("k3sbox-probe-%d", os.Getpid()))
		if err := os.Mkdir(dir, 0o755); err != nil {
			return "", fmt.Errorf("the cgroup hierarchy is not writable (%v): run the container privileged, or with a writable /sys/fs/cgroup and cgroupns=host", err)
		}
		_ = os.Remove(dir)
	}
	return path, nil
}

// prepareNode writes every agent's configuration and credentials and sets up
// the mounts and kernel settings they need.
func (s *server) prepareNode() error {
	creds, err := issueNodeCredentials(s.pki, s.cfg.NodeName, s.nodeIP)
	if err != nil {
		return err
	}
	if err := s.setupNode(creds); err != nil {
		return err
	}
	s.pki.KubeletClient = creds.APIServerKubeletClient
	return nil
}

// setupNode prepares the node's agents with the given credentials (issued
// here on a server, by the server's supervisor on an agent). The CNI
// configuration is written only when the podCIDR is known (an agent learns
// it once its node is registered, see writeCNIConfig).
func (s *server) setupNode(creds *nodeCredentials) error {
	c := s.cfg
	cniBin := os.Getenv("K3S_CNI_BIN_DIR")
	if cniBin == "" {
		cniBin = "/opt/cni/bin"
	}
	n := &node{
		dirs:         newNodeLayout(c.DataDir, cniBin),
		sandboxImage: envOr("K3SBOX_PAUSE_IMAGE", defaultSandboxImage),
		coreDNSImage: envOr("K3SBOX_COREDNS_IMAGE", defaultCoreDNSImage),
		imported:     make(chan error, 1),
	}
	var err error
	if n.cgroupRoot, err = ownCgroup(false); err != nil {
		return err
	}
	for _, d := range []string{n.dirs.Containerd, n.dirs.ContainerdRun, n.dirs.Etc, n.dirs.CNIConf, n.dirs.KubeletRoot, n.dirs.KubeletCerts, "/var/log/pods"} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	if err := nodeMounts(n.dirs); err != nil {
		return err
	}
	nodeSysctls()

	regs, err := loadRegistries("/etc/rancher/k3s/registries.yaml")
	if err != nil {
		return err
	}
	hosts, warnings, err := regs.hostsTOML()
	if err != nil {
		return err
	}
	for _, w := range warnings {
		logf("warn", "%s", w)
	}
	if err := writeHostsDir(n.dirs.HostsDir, hosts); err != nil {
		return err
	}

	resolv := c.ResolvConf
	if resolv == "" {
		resolv = "/etc/resolv.conf"
	}
	files := map[string][]byte{
		filepath.Join(n.dirs.Etc, "containerd", "config.toml"): []byte(containerdConfig(n.dirs, s.bins["runc"], n.sandboxImage)),
		filepath.Join(n.dirs.Etc, "kubelet.yaml"):              []byte(kubeletConfig(c, n.dirs, s.pki.CACert, n.cgroupRoot, resolv, creds.KubeletServing)),
		filepath.Join(s.dirs.Cred, "kubelet.kubeconfig"):       componentKubeconfig(s.apiURL, s.pki.CACert, creds.Kubelet),
		filepath.Join(s.dirs.Cred, "kube-proxy.kubeconfig"):    componentKubeconfig(s.apiURL, s.pki.CACert, creds.KubeProxy),
	}
	if s.podCIDR != "" {
		files[cniConfPath(n.dirs)] = cniConfList(s.podCIDR)
	}
	for path, data := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		if err := writeFile(path, data, 0o600); err != nil {
			return err
		}
	}
	s.node = n
	return nil
}

func cniConfPath(l nodeLayout) string { return filepath.Join(l.CNIConf, "10-k3sbox.conflist") }

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// nodeMounts: "/" becomes rshared so volume mounts the kubelet makes
// propagate into pods, and containerd's root gets a tmpfs when it would
// otherwise sit on the container's overlayfs (overlayfs cannot stack on
// overlayfs); then each container start begins with a fresh containerd.
func nodeMounts(l nodeLayout) error {
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_SHARED, ""); err != nil {
		return fmt.Errorf("making / rshared: %w", err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(l.Containerd, &st); err != nil {
		return err
	}
	if st.Type == overlayfsMagic {
		if err := syscall.Mount("tmpfs", l.Containerd, "tmpfs", 0, "mode=0700"); err != nil {
			return fmt.Errorf("mounting a tmpfs on %s: %w", l.Containerd, err)
		}
	}
	return useImageContent(l)
}

// useImageContent keeps containerd's content store (plain files) on the
// container's own filesystem, bound into its root: a node image may carry
// its system images there already (testbed/image.sh), so no node imports
// them at start; the CRI unpacks an image when a container first uses it.
// A root without metadata yet gets the metadata that goes with that content;
// one that outlived a restart (not on a tmpfs) keeps its own.
func useImageContent(l nodeLayout) error {
	content := filepath.Join(l.Containerd, "io.containerd.content.v1.content")
	metaDir := filepath.Join(l.Containerd, "io.containerd.metadata.v1.bolt")
	for _, dir := range []string{content, l.Content, metaDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	if err := syscall.Mount(l.Content, content, "", syscall.MS_BIND, ""); err != nil {
		return fmt.Errorf("binding %s to %s: %w", l.Content, content, err)
	}
	meta := filepath.Join(metaDir, "meta.db")
	if _, err := os.Stat(meta); err == nil {
		return nil
	}
	seed, err := os.ReadFile(l.SeededMeta)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return os.WriteFile(meta, seed, 0o600)
}

// nodeSysctls turns on what the pod network and kube-proxy rely on: IP
// forwarding, and bridged pod-to-pod traffic passing netfilter (so replies
// through a Service are un-NATed). These are per network namespace.
func nodeSysctls() {
	for key, value := range map[string]string{
		"net/ipv4/ip_forward":                 "1",
		"net/bridge/bridge-nf-call-iptables":  "1",
		"net/bridge/bridge-nf-call-ip6tables": "1",
	} {
		if err := os.WriteFile("/proc/sys/"+key, []byte(value), 0o644); err != nil {
			logf("warn", "sysctl %s=%s: %v", strings.ReplaceAll(key, "/", "."), value, err)
		}
	}
}

// startContainerd starts containerd and, in the background, imports the
// airgap images; n.imported receives the result.
func (s *server) startContainerd(ctx context.Context) error {
	n := s.node
	config := filepath.Join(n.dirs.Etc, "containerd", "config.toml")
	cd, err := s.sup.start("containerd", 1, s.bins["containerd"], []string{"--config", config}, nil, true)
	if err != nil {
		return err
	}
	go func() { n.imported <- s.importImages(ctx, cd) }()
	return nil
}

// importImages waits for containerd's socket, then imports every tarball of
// the airgap directory into the k8s.io namespace (as k3s does with
// agent/images), all at once.
func (s *server) importImages(ctx context.Context, cd *child) error {
	n := s.node
	deadline := time.Now().Add(60 * time.Second)
	for {
		if conn, err := net.Dial("unix", n.dirs.Socket); err == nil {
			conn.Close()
			break
		}
		if cd.exited() {
			return &childExitError{cd}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("containerd socket %s not ready after 60s; see %s", n.dirs.Socket, cd.logPath)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	tars, _ := filepath.Glob(filepath.Join(n.dirs.Images, "*.tar"))
	started := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(tars))
	for i, tar := range tars {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ictx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ictx, s.bins["ctr"], "--address", n.dirs.Socket, "--namespace", "k8s.io",
				"images", "import", tar).CombinedOutput()
			if err != nil {
				errs[i] = fmt.Errorf("importing %s: %v: %s", filepath.Base(tar), err, strings.TrimSpace(string(out)))
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	logf("info", "Imported %d airgap images from %s in %.1fs", len(tars), n.dirs.Images, time.Since(started).Seconds())
	return nil
}

// startAgents starts the kubelet and kube-proxy once the images are in.
func (s *server) startAgents(ctx context.Context) error {
	select {
	case err := <-s.node.imported:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	c := s.cfg
	agents := []struct {
		name string
		args []string
	}{
		{"kubelet", kubeletArgs(c, s.node.dirs, s.dirs.Cred, s.nodeIP)},
		{"kube-proxy", kubeProxyArgs(c, s.dirs.Cred, s.nodeIP)},
	}
	for _, a := range agents {
		if _, err := s.sup.start(a.name, 3, s.bins[a.name], a.args, nil, true); err != nil {
			return err
		}
	}
	return nil
}

// nodeCredentials are the certificates the node agents use.
type nodeCredentials struct {
	Kubelet, KubeProxy, KubeletServing, APIServerKubeletClient certPair
}

// issueNodeCredentials issues the kubelet's and kube-proxy's client
// certificates (the identities the Node authorizer and RBAC expect), the
// kubelet's serving certificate (the apiserver verifies it for logs/exec),
// and the apiserver's client certificate toward the kubelet.
func issueNodeCredentials(p *pki, nodeName, nodeIP string) (*nodeCredentials, error) {
	ca, caKey, err := loadOrCreateCA(p.CACert, p.CAKey, "k3s-server-ca")
	if err != nil {
		return nil, err
	}
	pair := func(name string) certPair {
		return certPair{filepath.Join(p.Dir, name+".crt"), filepath.Join(p.Dir, name+".key")}
	}
	creds := &nodeCredentials{
		Kubelet:                pair("client-kubelet"),
		KubeProxy:              pair("client-kube-proxy"),
		KubeletServing:         pair("serving-kubelet"),
		APIServerKubeletClient: pair("client-kube-apiserver-kubelet"),
	}
	client := func(cn, org string) *x509Template {
		t := newClientTemplate(cn, org)
		return &t
	}
	serving := newServingTemplate(nodeName, []string{nodeName, "localhost"}, []net.IP{net.ParseIP(nodeIP), net.IPv4(127, 0, 0, 1)})
	for _, it := range []struct {
		pair certPair
		tmpl *x509Template
	}{
		{creds.Kubelet, client("system:node:"+nodeName, "system:nodes")},
		{creds.KubeProxy, client("system:kube-proxy", "")},
		{creds.APIServerKubeletClient, client("kube-apiserver-kubelet-client", "system:masters")},
		{creds.KubeletServing, &serving},
	} {
		if err := issue(it.pair, it.tmpl, ca, caKey); err != nil {
			return nil, fmt.Errorf("certificate %s: %w", it.pair.Cert, err)
		}
	}
	return creds, nil
}
