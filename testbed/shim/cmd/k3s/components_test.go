package main

import (
	"slices"
	"testing"
)

// The apiserver is configured for API aggregation like k3s's: the
// request-header CA, the allowed proxy name, the X-Remote-* headers and the
// proxy's client certificate.
func TestAPIServerFrontProxyArgs(t *testing.T) {
	c, err := parseServerFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{RequestHeaderCACert: "/tls/request-header-ca.crt", AuthProxy: certPair{"/tls/client-auth-proxy.crt", "/tls/client-auth-proxy.key"}}
	args := apiserverArgs(c, newLayout("/data"), p, etcdPorts{Client: 2379, Peer: 2380}, "10.0.0.2")
	for _, want := range []string{
		"--requestheader-client-ca-file=/tls/request-header-ca.crt",
		"--requestheader-allowed-names=system:auth-proxy",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=/tls/client-auth-proxy.crt",
		"--proxy-client-key-file=/tls/client-auth-proxy.key",
		"--enable-aggregator-routing=true",
	} {
		if !slices.Contains(args, want) {
			t.Errorf("apiserver args lack %s: %v", want, args)
		}
	}
}
