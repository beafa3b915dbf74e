package main

// What the server deploys into its own cluster (CoreDNS, local-path-
// provisioner): objects POSTed once, existing ones kept, as k3s's deploy
// controller does for its packaged manifests.

import (
	"context"
	"fmt"
)

// addon is one object and the API collection it is created in.
type addon struct {
	path string
	obj  map[string]any
}

// systemDeployment is a one-replica kube-system Deployment whose pods carry labels.
func systemDeployment(name string, labels map[string]string, podSpec map[string]any) map[string]any {
	return map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": name, "namespace": "kube-system", "labels": labels},
		"spec": map[string]any{
			"replicas": 1,
			"selector": map[string]any{"matchLabels": labels},
			"template": map[string]any{"metadata": map[string]any{"labels": labels}, "spec": podSpec},
		},
	}
}

// createAddons creates the objects in order (existing ones are kept).
func createAddons(ctx context.Context, api *apiClient, what string, objs []addon) error {
	for _, o := range objs {
		if _, err := api.create(ctx, o.path, o.obj); err != nil {
			return fmt.Errorf("deploying %s: %w", what, err)
		}
	}
	return nil
}
