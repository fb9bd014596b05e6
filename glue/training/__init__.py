"""Training entrypoints: the scripts a training job container runs (and the local demo runs)."""
