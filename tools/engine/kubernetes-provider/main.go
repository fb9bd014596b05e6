// Command pulumi-resource-kubernetes serves the Pulumi Kubernetes provider from its Go module,
// embedding the schema and mapping files the module ships (copied into embed/ at build time by
// infra/engine/embeds.py; git-ignored).
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed embed/schema.json
var pulumiSchema []byte

//go:embed embed/terraform-mapping.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
