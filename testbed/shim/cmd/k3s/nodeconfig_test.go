package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestNodeConfigFiles(t *testing.T) {
	c, err := parseServerFlags([]string{"--cluster-cidr=10.44.0.0/16", "--cluster-dns=10.45.0.10", "--resolv-conf=/run/r.conf",
		"--kube-proxy-arg=proxy-mode=nftables", "--kubelet-arg=max-pods=50", "--node-name=n1", "--node-taint=a=b:NoSchedule"})
	if err != nil {
		t.Fatal(err)
	}
	l := newNodeLayout("/var/lib/rancher/k3s", "/opt/cni/bin")

	cd := containerdConfig(l, "/bin/runc", "rancher/mirrored-pause:3.6")
	for _, want := range []string{
		"version = 3",
		`sandbox = "rancher/mirrored-pause:3.6"`,
		`config_path = "/var/lib/rancher/k3s/agent/etc/containerd/certs.d"`,
		"restrict_oom_score_adj = true",
		`BinaryName = "/bin/runc"`,
		`bin_dirs = ["/opt/cni/bin"]`,
		`address = "/run/k3s/containerd/containerd.sock"`,
	} {
		if !strings.Contains(cd, want) {
			t.Errorf("containerd config lacks %q", want)
		}
	}

	var cni struct {
		Plugins []struct {
			Type string
			IPAM struct {
				Ranges [][]struct{ Subnet string }
			}
		}
	}
	if err := json.Unmarshal(cniConfList("10.44.0.0/24"), &cni); err != nil {
		t.Fatal(err)
	}
	if len(cni.Plugins) != 2 || cni.Plugins[0].Type != "bridge" || cni.Plugins[0].IPAM.Ranges[0][0].Subnet != "10.44.0.0/24" || cni.Plugins[1].Type != "portmap" {
		t.Errorf("unexpected CNI config %+v", cni)
	}

	kc := kubeletConfig(c, l, "/ca.crt", "/docker/abc", "/run/r.conf", certPair{"/k.crt", "/k.key"})
	for _, want := range []string{`cgroupRoot: "/docker/abc"`, `clusterDNS: ["10.45.0.10"]`, `resolvConf: "/run/r.conf"`, "failCgroupV1: false",
		`containerRuntimeEndpoint: "unix:///run/k3s/containerd/containerd.sock"`, `nodefs.available: "1%"`} {
		if !strings.Contains(kc, want) {
			t.Errorf("kubelet config lacks %q:\n%s", want, kc)
		}
	}

	ka := strings.Join(kubeletArgs(c, l, "/cred", "172.18.0.2"), " ")
	for _, want := range []string{"--hostname-override=n1", "--node-ip=172.18.0.2", "--register-with-taints=a=b:NoSchedule", "--max-pods=50"} {
		if !strings.Contains(ka, want) {
			t.Errorf("kubelet args lack %q: %s", want, ka)
		}
	}
	pa := kubeProxyArgs(c, "/cred", "172.18.0.2")
	if pa[len(pa)-1] != "--proxy-mode=nftables" || !strings.Contains(strings.Join(pa, " "), "--conntrack-max-per-core=0") {
		t.Errorf("kube-proxy args: %q", pa)
	}
}

func TestCoreDNSObjectsUseClusterDNS(t *testing.T) {
	c := defaultServerConfig()
	c.ClusterDNS = "10.45.0.10"
	objs := coreDNSObjects(c, "coredns:x")
	svc := objs[len(objs)-1].obj
	if svc["kind"] != "Service" || svc["spec"].(map[string]any)["clusterIP"] != "10.45.0.10" {
		t.Errorf("kube-dns Service: %v", svc)
	}
	data, _ := json.Marshal(objs[3].obj)
	if !strings.Contains(string(data), `"image":"coredns:x"`) || !strings.Contains(string(data), `"NodeHosts"`) {
		t.Errorf("CoreDNS Deployment: %s", data)
	}
}
