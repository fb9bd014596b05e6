"""HTTP API of the registry: one module-level ``APIRouter`` per resource, wired by ``create_app``.

``models``, ``versions``, ``aliases``, ``datasets`` and ``services`` serve ``TEAM_PREFIX``
(every model, dataset and service belongs to one team, and names are unique per team);
``identity`` serves ``API_PREFIX`` (who am I, the registry-wide audit log); ``ops`` (health,
readiness, metrics) and ``docs`` (the OpenAPI document and its UIs) serve the root.
``params`` holds the path and query parameter types they share, ``problems`` the problem+json
errors and their handlers, ``middleware`` the body limit and the request metrics and logs.
"""

#: Prefix of the resource routes; it is part of each route's path (and metrics label).
API_PREFIX = "/api/v1"
#: Prefix of the team-scoped resource routes (``/api/v1/teams/cv/models/digits``).
TEAM_PREFIX = API_PREFIX + "/teams/{team}"
