package main

import (
	"errors"
	"reflect"
	"testing"
)

// The exact command line lib/k3s/command.ts builds for the container.
func TestParseLibraryCommandLine(t *testing.T) {
	c, err := parseServerFlags([]string{
		"--resolv-conf=/run/k3sbox-resolv.conf", "--disable=metrics-server", "--disable=traefik", "--disable=servicelb",
		"--cluster-cidr=10.44.0.0/16", "--service-cidr=10.45.0.0/16", "--cluster-dns=10.45.0.10",
		"--flannel-backend=host-gw", "--write-kubeconfig-mode=644", "--kube-proxy-arg=proxy-mode=nftables",
		"--tls-san=127.0.0.1", "--tls-san=localhost", "--tls-san", "a.internal,b.internal",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.ResolvConf != "/run/k3sbox-resolv.conf" || c.ClusterCIDR != "10.44.0.0/16" || c.ServiceCIDR != "10.45.0.0/16" ||
		c.ClusterDNS != "10.45.0.10" || c.WriteKubeconfigMode != 0o644 {
		t.Errorf("unexpected config %+v", c)
	}
	if want := []string{"127.0.0.1", "localhost", "a.internal", "b.internal"}; !reflect.DeepEqual(c.TLSSANs, want) {
		t.Errorf("TLSSANs = %q, want %q", c.TLSSANs, want)
	}
	if want := []string{"metrics-server", "traefik", "servicelb"}; !reflect.DeepEqual(c.Disable, want) {
		t.Errorf("Disable = %q, want %q", c.Disable, want)
	}
	if want := []string{"--flannel-backend"}; !reflect.DeepEqual(c.Ignored, want) {
		t.Errorf("Ignored = %q, want %q", c.Ignored, want)
	}
	if want := []string{"proxy-mode=nftables"}; !reflect.DeepEqual(c.KubeProxyArgs, want) {
		t.Errorf("KubeProxyArgs = %q, want %q", c.KubeProxyArgs, want)
	}
	// Defaults for what was not given.
	if c.DataDir != "/var/lib/rancher/k3s" || c.HTTPSListenPort != 6443 || c.BindAddress != "0.0.0.0" ||
		c.WriteKubeconfig != "/etc/rancher/k3s/k3s.yaml" {
		t.Errorf("unexpected defaults %+v", c)
	}
}

func TestParseHostModeCommandLine(t *testing.T) {
	c, err := parseServerFlags([]string{"--data-dir", "/tmp/x", "--https-listen-port=7443", "--bind-address", "127.0.0.1",
		"--write-kubeconfig=/tmp/x/kc.yaml", "--node-name", "n1", "--disable-network-policy", "--disable-kube-proxy=true",
		"--kube-apiserver-arg=v=2", "--kube-apiserver-arg", "enable-admission-plugins=A,B"})
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/tmp/x" || c.HTTPSListenPort != 7443 || c.BindAddress != "127.0.0.1" || c.NodeName != "n1" ||
		c.WriteKubeconfig != "/tmp/x/kc.yaml" || c.WriteKubeconfigMode != 0o600 {
		t.Errorf("unexpected config %+v", c)
	}
	// Boolean flags must not swallow the next argument.
	if want := []string{"--disable-network-policy", "--disable-kube-proxy"}; !reflect.DeepEqual(c.Ignored, want) {
		t.Errorf("Ignored = %q, want %q", c.Ignored, want)
	}
	if want := []string{"--v=2", "--enable-admission-plugins=A,B"}; !reflect.DeepEqual(componentArgs(c.APIServerArgs), want) {
		t.Errorf("apiserver args = %q, want %q", componentArgs(c.APIServerArgs), want)
	}
}

func TestParseErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--no-such-flag=1"},
		{"--data-dir"},
		{"--https-listen-port=http"},
		{"--write-kubeconfig-mode=rw"},
		{"--disable-network-policy=maybe"},
		{"agent"},
	} {
		_, err := parseServerFlags(args)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("%q: got %v, want a usage error", args, err)
		}
	}
	_, err := parseServerFlags([]string{"--cluster-cidr=10.44.0.0/16", "--bogus"})
	if err == nil || err.Error() != "flag provided but not defined: -bogus" {
		t.Errorf("unknown flag error = %v", err)
	}
}
