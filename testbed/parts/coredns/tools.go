//go:build tools

// Package tools pins CoreDNS, built by ../../parts.sh.
package tools

import (
	_ "github.com/coredns/coredns"
)
