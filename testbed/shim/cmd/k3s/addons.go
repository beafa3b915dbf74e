package main

// What the server deploys into its own cluster (CoreDNS, local-path-
// provisioner): objects POSTed once, existing ones kept, as k3s's deploy
// controller does for its packaged manifests.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// createAddons stages the objects as <data-dir>/server/manifests/<file>.yaml,
// as k3s stages its packaged manifests (tools read them there: k3sbox learns
// which system images a node needs from them), then creates them in order
// (existing ones are kept).
func createAddons(ctx context.Context, api *apiClient, dataDir, file, what string, objs []addon) error {
	if err := stageManifest(filepath.Join(dataDir, "server", "manifests"), file, objs); err != nil {
		return fmt.Errorf("staging the %s manifest: %w", what, err)
	}
	for _, o := range objs {
		if _, err := api.create(ctx, o.path, o.obj); err != nil {
			return fmt.Errorf("deploying %s: %w", what, err)
		}
	}
	return nil
}

// stageManifest writes objs as one multi-document YAML file (each document
// JSON, which is YAML), atomically: a reader never sees half a file.
func stageManifest(dir, file string, objs []addon) error {
	docs := make([]string, 0, len(objs))
	for _, o := range objs {
		b, err := json.MarshalIndent(o.obj, "", "  ")
		if err != nil {
			return err
		}
		docs = append(docs, string(b))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, file+".yaml")
	if err := os.WriteFile(path+".tmp", []byte(strings.Join(docs, "\n---\n")+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}
