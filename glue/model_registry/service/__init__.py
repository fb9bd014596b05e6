"""Registry domain logic: keyword-only functions over SQLAlchemy sessions, one module per resource.

Routers stay thin: they get a session from ``glue.model_registry.deps`` and call one of these.
Every function raises ``NotFound``/``Conflict``/``Invalid``/``Unavailable`` with the offending
field, never a bare exception for bad input.

- ``models``: models; ``versions``: reading versions; ``registration``: registering a version;
- ``aliases``: alias moves and their audit log; ``datasets``: datasets recorded for lineage;
- ``inference``: inference services, desired and observed state; ``common``: pagination, URIs.
"""
