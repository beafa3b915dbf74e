//go:build tools

// Package tools pins local-path-provisioner, built by ../../parts.sh.
package tools

import (
	_ "github.com/rancher/local-path-provisioner"
)
