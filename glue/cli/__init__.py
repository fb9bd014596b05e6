"""The ``kubeai`` command line (typer + rich)."""
