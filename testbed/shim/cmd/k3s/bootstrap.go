package main

// Talking to the apiserver with plain net/http + JSON (admin client
// certificate): wait for /readyz, then create what a k3s server creates for
// itself: its Node (here a fake node that kwok keeps Ready, since there is
// no kubelet) and the kube-system/coredns ConfigMap with the NodeHosts key.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"time"
)

type apiClient struct {
	base string
	http *http.Client
}

func newAPIClient(base string, p *pki) (*apiClient, error) {
	return newAPIClientAs(base, p.CAPEM, p.Admin)
}

// newAPIClientAs is a client with the given identity, verifying the
// apiserver against caPEM.
func newAPIClientAs(base string, caPEM []byte, id certPair) (*apiClient, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("cannot parse the cluster CA")
	}
	cert, err := tls.LoadX509KeyPair(id.Cert, id.Key)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}
	return &apiClient{base: base, http: &http.Client{Transport: tr, Timeout: 10 * time.Second}}, nil
}

// do sends body (marshalled to JSON unless nil) and returns status and body.
func (a *apiClient) do(ctx context.Context, method, path, contentType string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// waitReady polls /readyz until it answers 200, ctx ends or the apiserver
// process exits (then its failure is reported by the supervisor).
func (a *apiClient) waitReady(ctx context.Context, apiserver *child) error {
	for {
		status, _, err := a.do(ctx, http.MethodGet, "/readyz", "", nil)
		if err == nil && status == http.StatusOK {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-apiserver.done:
			return &childExitError{apiserver}
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// create POSTs obj to path, retrying while the apiserver is still settling
// (e.g. kube-system not created yet, RBAC not bootstrapped). It returns
// exists=true on 409 Conflict.
func (a *apiClient) create(ctx context.Context, path string, obj any) (exists bool, err error) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		status, body, err := a.do(ctx, http.MethodPost, path, "application/json", obj)
		switch {
		case err == nil && status/100 == 2:
			return false, nil
		case err == nil && status == http.StatusConflict:
			return true, nil
		case err == nil && status != http.StatusNotFound && status != http.StatusForbidden && status < 500:
			return false, fmt.Errorf("POST %s: HTTP %d: %s", path, status, strings.TrimSpace(string(body)))
		case time.Now().After(deadline):
			if err == nil {
				err = fmt.Errorf("HTTP %d: %s", status, strings.TrimSpace(string(body)))
			}
			return false, fmt.Errorf("POST %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// nodeLabels are the labels k3s gives its server node, plus --node-label.
func nodeLabels(c *serverConfig) map[string]string {
	labels := map[string]string{
		"kubernetes.io/hostname":                c.NodeName,
		"kubernetes.io/os":                      "linux",
		"kubernetes.io/arch":                    runtime.GOARCH,
		"beta.kubernetes.io/os":                 "linux",
		"beta.kubernetes.io/arch":               runtime.GOARCH,
		"beta.kubernetes.io/instance-type":      "k3s",
		"node.kubernetes.io/instance-type":      "k3s",
		"node-role.kubernetes.io/control-plane": "true",
		"node-role.kubernetes.io/master":        "true",
	}
	for _, l := range c.NodeLabels {
		k, v, _ := strings.Cut(l, "=")
		labels[k] = v
	}
	return labels
}

// labelNode waits for the kubelet to register the node, then adds the
// labels a kubelet may not set on itself (NodeRestriction forbids the
// node-role ones), as k3s's server does.
func labelNode(ctx context.Context, api *apiClient, c *serverConfig) error {
	path := "/api/v1/nodes/" + c.NodeName
	deadline := time.Now().Add(60 * time.Second)
	for {
		status, body, err := api.do(ctx, http.MethodGet, path, "", nil)
		if err == nil && status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the kubelet did not register node %s within 60s (last: HTTP %d %v %s)", c.NodeName, status, err, body)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	patch := map[string]any{"metadata": map[string]any{"labels": nodeLabels(c)}}
	status, body, err := api.do(ctx, http.MethodPatch, path, "application/merge-patch+json", patch)
	if err != nil || status != http.StatusOK {
		return fmt.Errorf("labelling node %s: HTTP %d %v %s", c.NodeName, status, err, body)
	}
	return nil
}

// nodeObject is the fake Node: untainted (unless --node-taint), with a
// realistic capacity, k3s's standard labels and a Ready condition, so it is
// schedulable as soon as it exists. kwok then keeps its lease and status up.
func nodeObject(c *serverConfig, nodeIP, podCIDR, kubeVersion string) map[string]any {
	labels := nodeLabels(c)
	var taints []map[string]string
	for _, t := range c.NodeTaints {
		kv, effect, _ := strings.Cut(t, ":")
		k, v, _ := strings.Cut(kv, "=")
		taints = append(taints, map[string]string{"key": k, "value": v, "effect": effect})
	}
	resources := map[string]string{
		"cpu":               "32",
		"memory":            "256Gi",
		"pods":              "110",
		"ephemeral-storage": "512Gi",
		"hugepages-1Gi":     "0",
		"hugepages-2Mi":     "0",
	}
	now := time.Now().UTC().Format(time.RFC3339)
	condition := func(typ, status, reason, msg string) map[string]string {
		return map[string]string{"type": typ, "status": status, "reason": reason, "message": msg,
			"lastHeartbeatTime": now, "lastTransitionTime": now}
	}
	return map[string]any{
		"apiVersion": "v1",
		"kind":       "Node",
		"metadata": map[string]any{
			"name":   c.NodeName,
			"labels": labels,
			"annotations": map[string]string{
				"kwok.x-k8s.io/node":           "fake",
				"node.alpha.kubernetes.io/ttl": "0",
				"k3s.io/internal-ip":           nodeIP,
				"k3s.io/hostname":              c.NodeName,
			},
		},
		"spec": map[string]any{
			"podCIDR":    podCIDR,
			"podCIDRs":   []string{podCIDR},
			"providerID": "k3s://" + c.NodeName,
			"taints":     taints,
		},
		"status": map[string]any{
			"capacity":    resources,
			"allocatable": resources,
			"addresses": []map[string]string{
				{"type": "InternalIP", "address": nodeIP},
				{"type": "Hostname", "address": c.NodeName},
			},
			"conditions": []map[string]string{
				condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
				condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
				condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
				condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
			},
			"daemonEndpoints": map[string]any{"kubeletEndpoint": map[string]int{"Port": 10250}},
			"nodeInfo": map[string]string{
				"architecture":            runtime.GOARCH,
				"operatingSystem":         "linux",
				"osImage":                 "k3sbox testbed (kwok)",
				"kernelVersion":           "kwok",
				"containerRuntimeVersion": "kwok://v0.8.0",
				"kubeletVersion":          kubeVersion + "+k3s1",
				"kubeProxyVersion":        kubeVersion + "+k3s1",
				"machineID":               "",
				"systemUUID":              "",
				"bootID":                  "",
			},
		},
	}
}

// coreDNSCorefile is k3s's default Corefile (no CoreDNS runs here; the
// ConfigMap exists because clients read and extend NodeHosts).
const coreDNSCorefile = `.:53 {
    errors
    health
    ready
    kubernetes %s in-addr.arpa ip6.arpa {
      pods insecure
      fallthrough in-addr.arpa ip6.arpa
    }
    hosts /etc/coredns/NodeHosts {
      ttl 60
      reload 15s
      fallthrough
    }
    prometheus :9153
    forward . /etc/resolv.conf
    cache 30
    loop
    reload
    loadbalance
    import /etc/coredns/custom/*.override
}
import /etc/coredns/custom/*.server
`

// bootstrapObjects creates the Node and the coredns ConfigMap. On a reused
// data directory they may exist already; then the ConfigMap's NodeHosts is
// checked for this node's entry, like k3s keeps it up to date.
func bootstrapObjects(ctx context.Context, api *apiClient, c *serverConfig, nodeIP, podCIDR, kubeVersion string, fakeNode bool) error {
	if fakeNode {
		exists, err := api.create(ctx, "/api/v1/nodes", nodeObject(c, nodeIP, podCIDR, kubeVersion))
		if err != nil {
			return fmt.Errorf("creating node %s: %w", c.NodeName, err)
		}
		if exists {
			logf("info", "node %s already exists", c.NodeName)
		}
	}
	if c.disabled("coredns") {
		return nil
	}
	entry := nodeIP + " " + c.NodeName
	cm := map[string]any{
		"apiVersion": "v1",
		"kind":       "ConfigMap",
		"metadata": map[string]any{
			"name":      "coredns",
			"namespace": "kube-system",
			"labels":    map[string]string{"objectset.rio.cattle.io/owner-name": "coredns"},
		},
		"data": map[string]string{
			"Corefile":  fmt.Sprintf(coreDNSCorefile, c.ClusterDomain),
			"NodeHosts": entry + "\n",
		},
	}
	const cmPath = "/api/v1/namespaces/kube-system/configmaps"
	exists, err := api.create(ctx, cmPath, cm)
	if err != nil || !exists {
		return err
	}
	status, body, err := api.do(ctx, http.MethodGet, cmPath+"/coredns", "", nil)
	if err != nil || status != http.StatusOK {
		return fmt.Errorf("reading kube-system/coredns: HTTP %d %v", status, err)
	}
	var current struct {
		Data map[string]string `json:"data"`
	}
	if err := json.Unmarshal(body, &current); err != nil {
		return err
	}
	hosts := current.Data["NodeHosts"]
	for _, line := range strings.Split(hosts, "\n") {
		if strings.TrimSpace(line) == entry {
			return nil
		}
	}
	if hosts != "" && !strings.HasSuffix(hosts, "\n") {
		hosts += "\n"
	}
	patch := map[string]any{"data": map[string]string{"NodeHosts": hosts + entry + "\n"}}
	status, body, err = api.do(ctx, http.MethodPatch, cmPath+"/coredns", "application/merge-patch+json", patch)
	if err != nil || status != http.StatusOK {
		return fmt.Errorf("updating kube-system/coredns NodeHosts: HTTP %d %v %s", status, err, body)
	}
	return nil
}

func (c *serverConfig) disabled(name string) bool {
	for _, d := range c.Disable {
		if d == name {
			return true
		}
	}
	return false
}
