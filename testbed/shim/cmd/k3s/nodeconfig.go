package main

// Configuration files of the real node's agents: containerd (CRI, runc,
// CNI, registry hosts), the CNI network, the kubelet and kube-proxy
// arguments. Pure functions of the server config and the node layout, so
// they are unit-tested without running anything.

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
)

// nodeLayout is where the node agents keep their state, k3s-style under
// <data-dir>/agent, plus the fixed paths the kubelet and CNI use.
type nodeLayout struct {
	Agent         string // <data-dir>/agent
	Containerd    string // containerd root (content store, snapshots)
	ContainerdRun string // containerd state and socket
	Socket        string
	Etc           string // generated configuration
	HostsDir      string // containerd registry hosts (certs.d)
	CNIConf       string
	CNIBin        string
	Images        string // airgap image tarballs imported at start
	Content       string // containerd's content store, on the container's own filesystem
	SeededMeta    string // containerd metadata that goes with the content the node image carries
	KubeletRoot   string
	KubeletCerts  string
}

func newNodeLayout(dataDir, cniBin string) nodeLayout {
	agent := filepath.Join(dataDir, "agent")
	run := "/run/k3s/containerd"
	return nodeLayout{
		Agent:         agent,
		Containerd:    filepath.Join(agent, "containerd"),
		ContainerdRun: run,
		Socket:        filepath.Join(run, "containerd.sock"),
		Etc:           filepath.Join(agent, "etc"),
		HostsDir:      filepath.Join(agent, "etc", "containerd", "certs.d"),
		CNIConf:       filepath.Join(agent, "etc", "cni", "net.d"),
		CNIBin:        cniBin,
		Images:        filepath.Join(agent, "images"),
		Content:       filepath.Join(agent, "containerd-content"),
		SeededMeta:    filepath.Join(agent, "containerd-seeded-meta.db"),
		KubeletRoot:   "/var/lib/kubelet",
		KubeletCerts:  filepath.Join(agent, "kubelet-pki"),
	}
}

// containerdConfig is containerd 2.x's configuration (version 3).
// restrict_oom_score_adj: where the container lacks CAP_SYS_RESOURCE, runc
// may not lower a process's oom_score_adj, which the kubelet asks for
// Guaranteed and system pods; containerd then clamps the value instead.
func containerdConfig(l nodeLayout, runc, sandboxImage string) string {
	return fmt.Sprintf(`version = 3
root = %q
state = %q
disabled_plugins = [
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.blockfile",
  "io.containerd.snapshotter.v1.erofs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
  "io.containerd.nri.v1.nri",
]

[grpc]
  address = %q

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = %q
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = %q

[plugins.'io.containerd.cri.v1.runtime']
  enable_selinux = false
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = %q
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = [%q]
    conf_dir = %q
`, l.Containerd, l.ContainerdRun, l.Socket, sandboxImage, l.HostsDir, runc, l.CNIBin, l.CNIConf)
}

// cniConfList is the pod network: one bridge with addresses from the
// node's podCIDR, and portmap for hostPort. Traffic to other nodes' pods is
// routed by host-gw (hostgw.go), which also masquerades what leaves the
// cluster CIDR, as flannel does (the bridge's own ipMasq would hide pod IPs
// from pods on other nodes).
func cniConfList(podCIDR string) []byte {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "k3sbox",
		"plugins": []map[string]any{
			{
				"type":        "bridge",
				"bridge":      "cni0",
				"isGateway":   true,
				"ipMasq":      false,
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":   "host-local",
					"ranges": [][]map[string]string{{{"subnet": podCIDR}}},
					"routes": []map[string]string{{"dst": "0.0.0.0/0"}},
				},
			},
			{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	data, _ := json.MarshalIndent(conf, "", "  ")
	return data
}

// kubeletConfig is the KubeletConfiguration. The kubelet puts its pod
// cgroups below cgroupRoot — the node container's own cgroup — so pods of
// several nodes on one host never share a cgroup, and removing the node's
// container removes them too.
func kubeletConfig(c *serverConfig, l nodeLayout, caFile, cgroupRoot, resolvConf string, serving certPair) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: %q
authorization:
  mode: Webhook
cgroupDriver: cgroupfs
cgroupRoot: %q
cgroupsPerQOS: true
clusterDNS: [%q]
clusterDomain: %q
containerRuntimeEndpoint: %q
failCgroupV1: false
failSwapOn: false
resolvConf: %q
tlsCertFile: %q
tlsPrivateKeyFile: %q
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
serializeImagePulls: false
# Throwaway test nodes: never evict or garbage-collect images for lack of
# disk, and pick up ConfigMap changes (CoreDNS NodeHosts) within seconds.
evictionHard:
  memory.available: "1Mi"
  nodefs.available: "1%%"
  nodefs.inodesFree: "1%%"
  imagefs.available: "1%%"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
syncFrequency: 10s
`, caFile, cgroupRoot, c.ClusterDNS, c.ClusterDomain, "unix://"+l.Socket, resolvConf, serving.Cert, serving.Key)
}

func kubeletArgs(c *serverConfig, l nodeLayout, credDir, nodeIP string) []string {
	args := []string{
		"--config=" + filepath.Join(l.Etc, "kubelet.yaml"),
		"--kubeconfig=" + filepath.Join(credDir, "kubelet.kubeconfig"),
		"--root-dir=" + l.KubeletRoot,
		"--cert-dir=" + l.KubeletCerts,
		"--hostname-override=" + c.NodeName,
		"--node-ip=" + nodeIP,
	}
	if len(c.NodeTaints) > 0 {
		args = append(args, "--register-with-taints="+strings.Join(c.NodeTaints, ","))
	}
	return append(args, componentArgs(c.KubeletArgs)...)
}

// kubeProxyArgs: conntrack-max-per-core=0 leaves nf_conntrack_max alone (a
// host-wide setting a container must not change); --kube-proxy-arg values
// come last and so win.
func kubeProxyArgs(c *serverConfig, credDir, nodeIP string) []string {
	args := []string{
		"--kubeconfig=" + filepath.Join(credDir, "kube-proxy.kubeconfig"),
		"--hostname-override=" + c.NodeName,
		"--bind-address=" + nodeIP,
		"--cluster-cidr=" + c.ClusterCIDR,
		"--proxy-mode=nftables",
		"--conntrack-max-per-core=0",
		"--metrics-bind-address=127.0.0.1:10249",
		"--healthz-bind-address=127.0.0.1:10256",
	}
	return append(args, componentArgs(c.KubeProxyArgs)...)
}
