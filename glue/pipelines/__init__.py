"""Model iteration pipelines (Argo Workflows authored with hera) and the canary gate they run."""
