"""Triton-facing code: model config, repository layout checks, server process, control API."""
