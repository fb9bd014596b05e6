"""The Pulumi program of KubeAI: platform and team stacks (see Pulumi.yaml, stacks/)."""
