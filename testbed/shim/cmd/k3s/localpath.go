package main

// local-path-provisioner, deployed by the server like k3s's local-storage
// manifest (unless --disable=local-storage): RBAC, the local-path-config
// ConfigMap (config.json, the helper pod's setup/teardown scripts and its pod
// template), the provisioner Deployment and the default StorageClass
// "local-path". Volumes are directories under <data-dir>/storage, made and
// removed by short-lived busybox helper pods. Only with a real node.

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
)

const (
	defaultLocalPathImage       = "rancher/local-path-provisioner:v0.0.30"
	defaultLocalPathHelperImage = "rancher/mirrored-library-busybox:1.36.1"
	localPathSA                 = "local-path-provisioner-service-account"
)

// The helper pod runs `sh /script/setup` (or teardown) with VOL_DIR set to
// the volume's directory. The parent (the storage directory) is closed to
// other users; the volume itself is open to any pod user, as in k3s.
const (
	localPathSetup = `#!/bin/sh
set -eu
mkdir -m 0777 -p "$VOL_DIR"
chmod 700 "$VOL_DIR/.."
`
	localPathTeardown = `#!/bin/sh
set -eu
rm -rf "$VOL_DIR"
`
)

// localPathObjects are the objects to create, in order, each with the
// collection path it is POSTed to. image is the provisioner's, helperImage
// the busybox the helper pods run.
func localPathObjects(c *serverConfig, image, helperImage string) ([]addon, error) {
	config, err := json.MarshalIndent(map[string]any{
		"nodePathMap": []map[string]any{
			{"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": []string{filepath.Join(c.DataDir, "storage")}},
		},
	}, "", "  ")
	if err != nil {
		return nil, err
	}
	// JSON is YAML: the provisioner parses helperPod.yaml with a YAML decoder.
	helperPod, err := json.MarshalIndent(map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "helper-pod"},
		"spec": map[string]any{
			"containers": []map[string]any{{"name": "helper-pod", "image": helperImage, "imagePullPolicy": "IfNotPresent"}},
		},
	}, "", "  ")
	if err != nil {
		return nil, err
	}

	const ns = "kube-system"
	labels := map[string]string{"app": "local-path-provisioner"}
	read := []string{"get", "list", "watch"}
	rbac := "rbac.authorization.k8s.io/v1"
	subjects := []map[string]string{{"kind": "ServiceAccount", "name": localPathSA, "namespace": ns}}
	deployment := systemDeployment("local-path-provisioner", labels, map[string]any{
		"serviceAccountName": localPathSA,
		"priorityClassName":  "system-node-critical",
		"tolerations": []map[string]string{
			{"key": "CriticalAddonsOnly", "operator": "Exists"},
			{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"},
			{"key": "node-role.kubernetes.io/master", "operator": "Exists", "effect": "NoSchedule"},
		},
		"containers": []map[string]any{{
			"name":            "local-path-provisioner",
			"image":           image,
			"imagePullPolicy": "IfNotPresent",
			"command":         []string{"local-path-provisioner", "start", "--config", "/etc/config/config.json"},
			"env": []map[string]any{
				{"name": "POD_NAMESPACE", "valueFrom": map[string]any{"fieldRef": map[string]string{"fieldPath": "metadata.namespace"}}},
				// Makes the provisioner re-read helperPod.yaml when the ConfigMap changes.
				{"name": "CONFIG_MOUNT_PATH", "value": "/etc/config/"},
			},
			"volumeMounts": []map[string]any{{"name": "config-volume", "mountPath": "/etc/config/"}},
		}},
		"volumes": []map[string]any{{"name": "config-volume", "configMap": map[string]any{"name": "local-path-config"}}},
	})
	return []addon{
		{"/api/v1/namespaces/kube-system/serviceaccounts", map[string]any{
			"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": localPathSA, "namespace": ns},
		}},
		{"/apis/rbac.authorization.k8s.io/v1/clusterroles", map[string]any{
			"apiVersion": rbac, "kind": "ClusterRole", "metadata": map[string]any{"name": "local-path-provisioner-role"},
			"rules": []map[string]any{
				{"apiGroups": []string{""}, "resources": []string{"nodes", "persistentvolumeclaims", "configmaps", "pods", "pods/log"}, "verbs": read},
				{"apiGroups": []string{""}, "resources": []string{"persistentvolumes"}, "verbs": []string{"get", "list", "watch", "create", "patch", "update", "delete"}},
				{"apiGroups": []string{""}, "resources": []string{"events"}, "verbs": []string{"create", "patch"}},
				{"apiGroups": []string{"storage.k8s.io"}, "resources": []string{"storageclasses"}, "verbs": read},
			},
		}},
		{"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", map[string]any{
			"apiVersion": rbac, "kind": "ClusterRoleBinding", "metadata": map[string]any{"name": "local-path-provisioner-bind"},
			"roleRef":  map[string]string{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "local-path-provisioner-role"},
			"subjects": subjects,
		}},
		// Helper pods are created and deleted in the provisioner's own
		// namespace only, so that right is a Role, not cluster-wide.
		{"/apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/roles", map[string]any{
			"apiVersion": rbac, "kind": "Role", "metadata": map[string]any{"name": "local-path-provisioner-role", "namespace": ns},
			"rules": []map[string]any{
				{"apiGroups": []string{""}, "resources": []string{"pods"}, "verbs": []string{"get", "list", "watch", "create", "patch", "update", "delete"}},
			},
		}},
		{"/apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/rolebindings", map[string]any{
			"apiVersion": rbac, "kind": "RoleBinding", "metadata": map[string]any{"name": "local-path-provisioner-bind", "namespace": ns},
			"roleRef":  map[string]string{"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "local-path-provisioner-role"},
			"subjects": subjects,
		}},
		{"/api/v1/namespaces/kube-system/configmaps", map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "local-path-config", "namespace": ns},
			"data": map[string]string{
				"config.json":    string(config),
				"setup":          localPathSetup,
				"teardown":       localPathTeardown,
				"helperPod.yaml": string(helperPod),
			},
		}},
		{"/apis/apps/v1/namespaces/kube-system/deployments", deployment},
		{"/apis/storage.k8s.io/v1/storageclasses", map[string]any{
			"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
			"metadata": map[string]any{
				"name":        "local-path",
				"annotations": map[string]string{"storageclass.kubernetes.io/is-default-class": "true"},
			},
			"provisioner":       "rancher.io/local-path",
			"volumeBindingMode": "WaitForFirstConsumer",
			"reclaimPolicy":     "Delete",
		}},
	}, nil
}

// deployLocalPath creates the local-storage objects (existing ones are kept),
// with the images from K3SBOX_LOCAL_PATH_IMAGE and
// K3SBOX_LOCAL_PATH_HELPER_IMAGE (the node image sets both from its tarballs).
func deployLocalPath(ctx context.Context, api *apiClient, c *serverConfig) error {
	objs, err := localPathObjects(c, envOr("K3SBOX_LOCAL_PATH_IMAGE", defaultLocalPathImage),
		envOr("K3SBOX_LOCAL_PATH_HELPER_IMAGE", defaultLocalPathHelperImage))
	if err != nil {
		return fmt.Errorf("deploying local-path-provisioner: %w", err)
	}
	return createAddons(ctx, api, c.DataDir, "local-storage", "local-path-provisioner", objs)
}
