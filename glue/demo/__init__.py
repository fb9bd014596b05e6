"""The local end-to-end demo (``kubeai demo`` / ``make demo``) and its load generator."""
