"""HTTP API of the registry: one module-level ``APIRouter`` per resource, wired by ``create_app``.

``models``, ``versions``, ``aliases``, ``datasets`` and ``services`` serve ``API_PREFIX``;
``ops`` (health, readiness, metrics) serves the root. ``params`` holds the path and query
parameter types they share, ``problems`` the problem+json errors and their handlers,
``middleware`` the body limit and the request metrics and logs.
"""

#: Prefix of the resource routes; it is part of each route's path (and metrics label).
API_PREFIX = "/api/v1"
