package main

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
)

func TestRoutesFor(t *testing.T) {
	var nodes nodeList
	err := json.Unmarshal([]byte(`{"items":[
	 {"metadata":{"name":"server"},"spec":{"podCIDR":"10.44.0.0/24"},"status":{"addresses":[{"type":"InternalIP","address":"172.18.0.2"}]}},
	 {"metadata":{"name":"agent-2"},"spec":{"podCIDR":"10.44.2.0/24"},"status":{"addresses":[{"type":"Hostname","address":"agent-2"},{"type":"InternalIP","address":"172.18.0.4"}]}},
	 {"metadata":{"name":"agent-1"},"spec":{"podCIDR":"10.44.1.0/24"},"status":{"addresses":[{"type":"InternalIP","address":"172.18.0.3"}]}},
	 {"metadata":{"name":"joining"},"spec":{},"status":{"addresses":[{"type":"InternalIP","address":"172.18.0.5"}]}}
	]}`), &nodes)
	if err != nil {
		t.Fatal(err)
	}
	got := routesFor(nodes, "server")
	want := []nodeRoute{{"10.44.1.0/24", "172.18.0.3"}, {"10.44.2.0/24", "172.18.0.4"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("routesFor = %v, want %v", got, want)
	}
}

func TestMasqueradeKeepsPodToPod(t *testing.T) {
	args := masqueradeArgs("-A", "10.44.1.0/24", "10.44.0.0/16")
	i := slices.Index(args, "!")
	if i < 0 || args[i+1] != "-d" || args[i+2] != "10.44.0.0/16" || !slices.Contains(args, "MASQUERADE") {
		t.Errorf("masquerade rule %v must exclude the cluster CIDR", args)
	}
	var conf map[string]any
	_ = json.Unmarshal(cniConfList("10.44.1.0/24"), &conf)
	bridge := conf["plugins"].([]any)[0].(map[string]any)
	if bridge["ipMasq"] != false {
		t.Error("the bridge masquerades pod-to-pod traffic to other nodes")
	}
}
