"""Fixtures of the authentication tests: the local OIDC issuer."""

from tests.glue.model_registry.auth.support import issuer as issuer

__all__ = ["issuer"]
