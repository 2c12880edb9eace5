//go:build tools

// Package tools pins the Pulumi YAML language host (pulumi-language-yaml) that dockfleet builds
// from the Go module proxy, for Pulumi YAML programs that use dockfleet's component package.
//
// It has its own module, apart from tools/pulumi, so that its dependencies (the Pulumi Go
// modules at the version pulumi-yaml was released with) never change the CLI's build. The host
// talks to the CLI over gRPC only. bin/lib/pulumi.sh (ensure_pulumi_yaml) builds it.
package tools

import _ "github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml"
