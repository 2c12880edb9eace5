//go:build tools

// Package tools pins the Pulumi CLI that dockfleet builds from the Go module proxy.
//
// The CLI's own module (github.com/pulumi/pulumi/pkg/v3) carries replace directives, so
// `go install module@version` refuses it; building `github.com/pulumi/pulumi/pkg/v3/cmd/pulumi`
// from this module (which repeats its non-local replace line in go.mod) works. The version must
// match the @pulumi/pulumi npm package in the project's package.json. bin/lib/pulumi.sh builds it.
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
