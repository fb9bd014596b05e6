"""KubeAI glue services: model registry, artifact store, serving agent, CLI, training."""
