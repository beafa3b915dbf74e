package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestLocalPathObjects(t *testing.T) {
	c, err := parseServerFlags([]string{"--data-dir=/data/k3s"})
	if err != nil {
		t.Fatal(err)
	}
	objs, err := localPathObjects(c, "lp:x", "bb:y")
	if err != nil {
		t.Fatal(err)
	}
	byKind := map[string]map[string]any{}
	for _, o := range objs {
		kind := o.obj["kind"].(string)
		meta := o.obj["metadata"].(map[string]any)
		// The collection path matches the object: its resource and, when
		// namespaced, its namespace.
		if ns, ok := meta["namespace"].(string); ok && !strings.Contains(o.path, "/namespaces/"+ns+"/") {
			t.Errorf("%s %v POSTed to %s", kind, meta["name"], o.path)
		}
		if !strings.HasSuffix(o.path, "/"+strings.ToLower(kind)+"s") && !strings.HasSuffix(o.path, "/storageclasses") {
			t.Errorf("%s POSTed to %s", kind, o.path)
		}
		byKind[kind] = o.obj
	}
	for _, k := range []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ConfigMap", "Deployment", "StorageClass"} {
		if byKind[k] == nil {
			t.Errorf("no %s", k)
		}
	}

	sc := byKind["StorageClass"]
	if sc["metadata"].(map[string]any)["name"] != "local-path" || sc["provisioner"] != "rancher.io/local-path" ||
		sc["volumeBindingMode"] != "WaitForFirstConsumer" || sc["reclaimPolicy"] != "Delete" ||
		sc["metadata"].(map[string]any)["annotations"].(map[string]string)["storageclass.kubernetes.io/is-default-class"] != "true" {
		t.Errorf("StorageClass: %v", sc)
	}

	// The Deployment runs the given image as the ServiceAccount the bindings name.
	var dep struct {
		Spec struct {
			Template struct {
				Spec struct {
					ServiceAccountName string
					Containers         []struct {
						Image   string
						Command []string
					}
					Volumes []struct {
						ConfigMap struct{ Name string }
					}
				}
			}
		}
	}
	jsonRoundTrip(t, byKind["Deployment"], &dep)
	ps := dep.Spec.Template.Spec
	if ps.ServiceAccountName != localPathSA || len(ps.Containers) != 1 || ps.Containers[0].Image != "lp:x" ||
		strings.Join(ps.Containers[0].Command, " ") != "local-path-provisioner start --config /etc/config/config.json" ||
		len(ps.Volumes) != 1 || ps.Volumes[0].ConfigMap.Name != "local-path-config" {
		t.Errorf("Deployment pod spec: %+v", ps)
	}
	if byKind["ServiceAccount"]["metadata"].(map[string]any)["name"] != localPathSA {
		t.Errorf("ServiceAccount: %v", byKind["ServiceAccount"])
	}
	for _, k := range []string{"ClusterRoleBinding", "RoleBinding"} {
		s := byKind[k]["subjects"].([]map[string]string)
		if len(s) != 1 || s[0]["name"] != localPathSA || s[0]["namespace"] != "kube-system" {
			t.Errorf("%s subjects: %v", k, s)
		}
	}

	// The ConfigMap: volumes under <data-dir>/storage, helper pods run the
	// given busybox, the scripts act on VOL_DIR.
	data := byKind["ConfigMap"]["data"].(map[string]string)
	var cfg struct {
		NodePathMap []struct {
			Node  string
			Paths []string
		}
	}
	if err := json.Unmarshal([]byte(data["config.json"]), &cfg); err != nil {
		t.Fatalf("config.json: %v", err)
	}
	if len(cfg.NodePathMap) != 1 || cfg.NodePathMap[0].Node != "DEFAULT_PATH_FOR_NON_LISTED_NODES" ||
		strings.Join(cfg.NodePathMap[0].Paths, ",") != "/data/k3s/storage" {
		t.Errorf("config.json: %s", data["config.json"])
	}
	var pod struct {
		Kind string
		Spec struct{ Containers []struct{ Image string } }
	}
	if err := json.Unmarshal([]byte(data["helperPod.yaml"]), &pod); err != nil {
		t.Fatalf("helperPod.yaml: %v", err)
	}
	if pod.Kind != "Pod" || len(pod.Spec.Containers) != 1 || pod.Spec.Containers[0].Image != "bb:y" {
		t.Errorf("helperPod.yaml: %s", data["helperPod.yaml"])
	}
	if !strings.Contains(data["setup"], `mkdir -m 0777 -p "$VOL_DIR"`) || !strings.Contains(data["teardown"], `rm -rf "$VOL_DIR"`) {
		t.Errorf("scripts: %q %q", data["setup"], data["teardown"])
	}
}

func TestLocalStorageDisable(t *testing.T) {
	c, err := parseServerFlags([]string{"--disable=traefik,local-storage"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.disabled("local-storage") {
		t.Error("--disable=traefik,local-storage does not disable local-storage")
	}
	if c, _ := parseServerFlags([]string{"--disable=traefik"}); c.disabled("local-storage") {
		t.Error("--disable=traefik disables local-storage")
	}
}

func jsonRoundTrip(t *testing.T, in any, out any) {
	t.Helper()
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatal(err)
	}
}
