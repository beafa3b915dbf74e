package main

// Command lines of the real components. Every listener other than the
// apiserver's secure port is either on a free loopback port picked at start
// (etcd) or switched off (controller-manager and scheduler serve nothing;
// kwok serves nothing unless given --server-address), so several servers can
// run on one host.

import (
	_ "embed"
	"fmt"
	"path/filepath"
	"strings"
)

//go:embed kwok-stages.yaml
var kwokStages []byte

// layout is where a server keeps its state under --data-dir.
type layout struct {
	Server string // <data-dir>/server
	TLS    string
	Cred   string // component kubeconfigs
	DB     string // etcd data
	Logs   string
	Etc    string // generated component configuration
	Kwok   string // kwok's working directory (instead of ~/.kwok)
}

func newLayout(dataDir string) layout {
	s := filepath.Join(dataDir, "server")
	return layout{
		Server: s,
		TLS:    filepath.Join(s, "tls"),
		Cred:   filepath.Join(s, "cred"),
		DB:     filepath.Join(s, "db", "etcd"),
		Logs:   filepath.Join(s, "logs"),
		Etc:    filepath.Join(s, "etc"),
		Kwok:   filepath.Join(s, "kwok"),
	}
}

type etcdPorts struct{ Client, Peer int }

func (p etcdPorts) clientURL() string { return fmt.Sprintf("http://127.0.0.1:%d", p.Client) }

func etcdArgs(c *serverConfig, l layout, ports etcdPorts) []string {
	peer := fmt.Sprintf("http://127.0.0.1:%d", ports.Peer)
	args := []string{
		"--name=" + c.NodeName,
		"--data-dir=" + l.DB,
		"--listen-client-urls=" + ports.clientURL(),
		"--advertise-client-urls=" + ports.clientURL(),
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=" + c.NodeName + "=" + peer,
		"--initial-cluster-state=new",
		// Throwaway test clusters: skipping fsync makes writes (and so
		// startup, which writes a lot of bootstrap objects) much faster.
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	}
	return append(args, componentArgs(c.EtcdArgs)...)
}

func apiserverArgs(c *serverConfig, l layout, p *pki, etcd etcdPorts, advertise string) []string {
	issuer := "https://kubernetes.default.svc." + c.ClusterDomain
	args := []string{
		"--etcd-servers=" + etcd.clientURL(),
		"--bind-address=" + c.BindAddress,
		fmt.Sprintf("--secure-port=%d", c.HTTPSListenPort),
		"--advertise-address=" + advertise,
		"--tls-cert-file=" + p.Serving.Cert,
		"--tls-private-key-file=" + p.Serving.Key,
		"--client-ca-file=" + p.CACert,
		"--cert-dir=" + filepath.Join(l.TLS, "temporary-certs"),
		"--authorization-mode=Node,RBAC",
		"--anonymous-auth=true", // lets unauthenticated probes read /readyz, /livez, /version
		"--service-cluster-ip-range=" + c.ServiceCIDR,
		"--service-account-issuer=" + issuer,
		"--api-audiences=" + issuer + ",k3s",
		"--service-account-key-file=" + p.SAKey,
		"--service-account-signing-key-file=" + p.SAKey,
		"--allow-privileged=true",
		"--enable-admission-plugins=NodeRestriction",
		"--profiling=false",
	}
	args = append(args, frontProxyArgs(p)...)
	if p.KubeletClient.Cert != "" {
		// A real kubelet: logs, exec and port-forward go to it over TLS,
		// verified against the cluster CA, with a client certificate.
		args = append(args,
			"--kubelet-client-certificate="+p.KubeletClient.Cert,
			"--kubelet-client-key="+p.KubeletClient.Key,
			"--kubelet-certificate-authority="+p.CACert,
			"--kubelet-preferred-address-types=InternalIP,Hostname",
		)
	} else {
		// The fake node is created untainted and Ready: nothing would remove
		// the not-ready taint this plugin adds (no node-lifecycle controller
		// runs with kwok, see controllerManagerArgs).
		args = append(args, "--disable-admission-plugins=TaintNodesByCondition")
	}
	return append(args, componentArgs(c.APIServerArgs)...)
}

// frontProxyArgs configure API aggregation as k3s does: the apiserver
// publishes the request-header CA, the allowed name and the header names in
// kube-system/extension-apiserver-authentication, and proxies requests for
// aggregated groups with the client-auth-proxy certificate. Aggregator
// routing sends them to an endpoint (pod) IP rather than the Service's
// ClusterIP, so it does not depend on kube-proxy on the server's node.
func frontProxyArgs(p *pki) []string {
	return []string{
		"--requestheader-client-ca-file=" + p.RequestHeaderCACert,
		"--requestheader-allowed-names=" + authProxyName,
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=" + p.AuthProxy.Cert,
		"--proxy-client-key-file=" + p.AuthProxy.Key,
		"--enable-aggregator-routing=true",
	}
}

func controllerManagerArgs(c *serverConfig, l layout, p *pki, realNode bool) []string {
	args := []string{
		"--kubeconfig=" + filepath.Join(l.Cred, "controller.kubeconfig"),
		"--leader-elect=false",
		"--secure-port=0", // no serving: no port to collide with other instances
		// One client for all controllers instead of a token per controller
		// service account: obtaining ~40 tokens one after the other delays
		// the controllers by several seconds on a small machine.
		"--use-service-account-credentials=false",
		"--service-account-private-key-file=" + p.SAKey,
		"--root-ca-file=" + p.CACert,
		"--cluster-signing-cert-file=" + p.CACert,
		"--cluster-signing-key-file=" + p.CAKey,
		"--cluster-cidr=" + c.ClusterCIDR,
		"--service-cluster-ip-range=" + c.ServiceCIDR,
		"--profiling=false",
	}
	if realNode {
		// As in k3s: node IPAM gives the node its podCIDR (the first /24,
		// which the CNI configuration uses too), and node-lifecycle lifts the
		// not-ready taint once the kubelet reports Ready.
		args = append(args, "--allocate-node-cidrs=true", "--node-cidr-mask-size=24")
	} else {
		// node-lifecycle would taint/evict the fake node if kwok's lease
		// renewals lagged on a loaded machine; node-ipam needs
		// --allocate-node-cidrs (the shim sets the node's podCIDR itself).
		args = append(args, "--allocate-node-cidrs=false", "--controllers=*,-node-lifecycle-controller,-node-ipam-controller")
	}
	return append(args, componentArgs(c.ControllerManagerArgs)...)
}

func schedulerArgs(c *serverConfig, l layout) []string {
	args := []string{
		"--kubeconfig=" + filepath.Join(l.Cred, "scheduler.kubeconfig"),
		"--leader-elect=false",
		"--secure-port=0",
		"--profiling=false",
	}
	return append(args, componentArgs(c.SchedulerArgs)...)
}

func kwokArgs(l layout, nodeIP, podCIDR string) []string {
	return []string{
		"--kubeconfig=" + filepath.Join(l.Cred, "admin.kubeconfig"),
		"--config=" + filepath.Join(l.Etc, "kwok.yaml"),
		"--manage-all-nodes=true",
		"--node-ip=" + nodeIP,
		"--cidr=" + podCIDR, // pod IPs come from the node's podCIDR
		"--node-lease-duration-seconds=40",
	}
}

// componentArgs turns k3s-style "key=value" pass-through arguments into
// "--key=value" flags.
func componentArgs(kvs []string) []string {
	var out []string
	for _, kv := range kvs {
		out = append(out, "--"+strings.TrimLeft(kv, "-"))
	}
	return out
}
