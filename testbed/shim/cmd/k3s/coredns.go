package main

// CoreDNS, deployed by the server like k3s's packaged coredns manifest:
// RBAC, the Deployment reading the coredns ConfigMap (Corefile + NodeHosts,
// plus the optional coredns-custom overrides) and the kube-dns Service at
// --cluster-dns. Only with a real node (kwok runs no DNS server).

import "context"

func coreDNSObjects(c *serverConfig, image string) []addon {
	labels := map[string]string{"k8s-app": "kube-dns"}
	meta := map[string]any{"name": "coredns", "namespace": "kube-system"}
	list := []string{"list", "watch"}
	probe := func(path string, port int) map[string]any {
		return map[string]any{"httpGet": map[string]any{"path": path, "port": port}, "periodSeconds": 2, "timeoutSeconds": 1, "failureThreshold": 3}
	}
	deployment := systemDeployment("coredns", labels, map[string]any{
		"serviceAccountName": "coredns",
		"priorityClassName":  "system-cluster-critical",
		"dnsPolicy":          "Default",
		"tolerations": []map[string]string{
			{"key": "CriticalAddonsOnly", "operator": "Exists"},
			{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"},
		},
		"containers": []map[string]any{{
			"name":            "coredns",
			"image":           image,
			"imagePullPolicy": "IfNotPresent",
			"args":            []string{"-conf", "/etc/coredns/Corefile"},
			"ports": []map[string]any{
				{"name": "dns", "containerPort": 53, "protocol": "UDP"},
				{"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
				{"name": "metrics", "containerPort": 9153, "protocol": "TCP"},
			},
			"resources":      map[string]any{"requests": map[string]string{"cpu": "50m", "memory": "70Mi"}},
			"livenessProbe":  probe("/health", 8080),
			"readinessProbe": probe("/ready", 8181),
			"securityContext": map[string]any{
				"allowPrivilegeEscalation": false,
				"readOnlyRootFilesystem":   true,
				"capabilities":             map[string]any{"add": []string{"NET_BIND_SERVICE"}, "drop": []string{"all"}},
			},
			"volumeMounts": []map[string]any{
				{"name": "config-volume", "mountPath": "/etc/coredns", "readOnly": true},
				{"name": "custom-config-volume", "mountPath": "/etc/coredns/custom", "readOnly": true},
			},
		}},
		"volumes": []map[string]any{
			{"name": "config-volume", "configMap": map[string]any{"name": "coredns", "items": []map[string]string{
				{"key": "Corefile", "path": "Corefile"}, {"key": "NodeHosts", "path": "NodeHosts"},
			}}},
			{"name": "custom-config-volume", "configMap": map[string]any{"name": "coredns-custom", "optional": true}},
		},
	})
	return []addon{
		{"/api/v1/namespaces/kube-system/serviceaccounts", map[string]any{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}},
		{"/apis/rbac.authorization.k8s.io/v1/clusterroles", map[string]any{
			"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": map[string]any{"name": "system:coredns"},
			"rules": []map[string]any{
				{"apiGroups": []string{""}, "resources": []string{"endpoints", "services", "pods", "namespaces"}, "verbs": list},
				{"apiGroups": []string{"discovery.k8s.io"}, "resources": []string{"endpointslices"}, "verbs": list},
			},
		}},
		{"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", map[string]any{
			"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": map[string]any{"name": "system:coredns"},
			"roleRef":  map[string]string{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:coredns"},
			"subjects": []map[string]string{{"kind": "ServiceAccount", "name": "coredns", "namespace": "kube-system"}},
		}},
		{"/apis/apps/v1/namespaces/kube-system/deployments", deployment},
		{"/api/v1/namespaces/kube-system/services", map[string]any{
			"apiVersion": "v1", "kind": "Service",
			"metadata": map[string]any{"name": "kube-dns", "namespace": "kube-system", "labels": labels},
			"spec": map[string]any{
				"selector":  labels,
				"clusterIP": c.ClusterDNS,
				"ports": []map[string]any{
					{"name": "dns", "port": 53, "protocol": "UDP"},
					{"name": "dns-tcp", "port": 53, "protocol": "TCP"},
					{"name": "metrics", "port": 9153, "protocol": "TCP"},
				},
			},
		}},
	}
}

// deployCoreDNS creates the CoreDNS objects (existing ones are kept).
func deployCoreDNS(ctx context.Context, api *apiClient, c *serverConfig, image string) error {
	return createAddons(ctx, api, c.DataDir, "coredns", "CoreDNS", coreDNSObjects(c, image))
}
