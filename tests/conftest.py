"""Shared fixtures: each real server (moto_server, tritonserver, PostgreSQL, registry) lives in
tests/support/ and is started once per session on loopback."""

import os

os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

pytest_plugins = [
    "tests.support.moto",
    "tests.support.triton",
    "tests.support.postgres_fixtures",
    "tests.support.registry",
    "tests.support.helm",
]
