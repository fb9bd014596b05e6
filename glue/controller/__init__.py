"""The lifecycle controller (kopf): training jobs → model versions, Fluid Datasets → lineage."""
