"""Fixtures of the serving agent's tests (the real-server world lives in ``support``)."""

from tests.glue.serving_agent.support import env

__all__ = ["env"]
