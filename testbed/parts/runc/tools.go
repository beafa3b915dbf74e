//go:build tools

// Package tools pins runc, built by ../../parts.sh.
package tools

import (
	_ "github.com/opencontainers/runc"
)
