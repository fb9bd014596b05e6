"""Model registry service: models, versions with lineage, aliases, inference services."""
