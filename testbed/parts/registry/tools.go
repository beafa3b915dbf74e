//go:build tools

// Package tools pins the distribution registry, built by ../../parts.sh.
package tools

import (
	_ "github.com/distribution/distribution/v3/cmd/registry"
)
