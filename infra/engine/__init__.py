"""The Pulumi engine: the CLI and the Kubernetes resource provider, built from pinned Go modules."""
