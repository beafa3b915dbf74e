package main

// host-gw: the node entry's own equivalent of flannel's host-gw backend
// (the one k3sbox asks for with --flannel-backend=host-gw). Every node sits
// on one L2 network (the environment's Docker network), so a pod on another
// node is reached by a plain route: <that node's podCIDR> via <its
// InternalIP>. Each node watches the Node objects and keeps those routes;
// traffic from its pods that leaves the cluster CIDR is masqueraded to the
// node's address, and pod-to-pod traffic keeps the pod IPs.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"sort"
	"strings"
	"time"
)

// hostGWInterval is how often the Node list is read; a joining node's
// route appears within it.
const hostGWInterval = 2 * time.Second

// nodeRoute is a route to one other node's pods.
type nodeRoute struct{ CIDR, Via string }

// nodeList is the part of a NodeList host-gw reads.
type nodeList struct {
	Items []struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			PodCIDR string `json:"podCIDR"`
		} `json:"spec"`
		Status struct {
			Addresses []struct {
				Type    string `json:"type"`
				Address string `json:"address"`
			} `json:"addresses"`
		} `json:"status"`
	} `json:"items"`
}

// routesFor returns the routes to every other node's podCIDR, sorted.
func routesFor(nodes nodeList, self string) []nodeRoute {
	var out []nodeRoute
	for _, n := range nodes.Items {
		if n.Metadata.Name == self || n.Spec.PodCIDR == "" {
			continue
		}
		if _, _, err := net.ParseCIDR(n.Spec.PodCIDR); err != nil {
			continue
		}
		for _, a := range n.Status.Addresses {
			if a.Type == "InternalIP" && net.ParseIP(a.Address) != nil && net.ParseIP(a.Address).To4() != nil {
				out = append(out, nodeRoute{n.Spec.PodCIDR, a.Address})
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CIDR < out[j].CIDR })
	return out
}

// masqueradeArgs is the iptables rule masquerading what this node's pods
// send outside the cluster CIDR.
func masqueradeArgs(op, podCIDR, clusterCIDR string) []string {
	return []string{"-t", "nat", op, "POSTROUTING", "-s", podCIDR, "!", "-d", clusterCIDR,
		"-m", "comment", "--comment", "k3sbox host-gw masquerade", "-j", "MASQUERADE"}
}

// ensureMasquerade adds the masquerade rule unless it is there.
func ensureMasquerade(podCIDR, clusterCIDR string) error {
	if exec.Command("iptables", masqueradeArgs("-C", podCIDR, clusterCIDR)...).Run() == nil {
		return nil
	}
	out, err := exec.Command("iptables", masqueradeArgs("-A", podCIDR, clusterCIDR)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// runHostGW keeps this node's routes to the other nodes' pods until ctx
// ends. api reads Nodes (kube-proxy's or the admin identity).
func runHostGW(ctx context.Context, api *apiClient, self string) {
	have := map[string]string{} // podCIDR -> via
	warned := ""
	for {
		status, body, err := api.do(ctx, http.MethodGet, "/api/v1/nodes", "", nil)
		var nodes nodeList
		if err == nil && status == http.StatusOK && json.Unmarshal(body, &nodes) == nil {
			for _, r := range routesFor(nodes, self) {
				if have[r.CIDR] == r.Via {
					continue
				}
				out, err := exec.Command("ip", "route", "replace", r.CIDR, "via", r.Via).CombinedOutput()
				if err != nil {
					if msg := fmt.Sprintf("%s via %s: %v: %s", r.CIDR, r.Via, err, strings.TrimSpace(string(out))); msg != warned {
						logf("warn", "host-gw: route %s", msg)
						warned = msg
					}
					continue
				}
				have[r.CIDR] = r.Via
				logf("info", "host-gw: route %s via %s", r.CIDR, r.Via)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(hostGWInterval):
		}
	}
}
