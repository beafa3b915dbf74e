//go:build tools

// Package tools pins k8s.io/sample-apiserver (the aggregated API server
// Kubernetes' own conformance suite registers), built by
// ../sample-apiserver.sh for the API aggregation test.
package tools

import _ "k8s.io/sample-apiserver"
