"""API keys: format and hashing (``keys``), storage (``store``), resolution to a
:class:`Principal` (``resolver``, ``middleware``) and role guards (``guards``).

Only the light principal types are re-exported here, so the CLI can name roles
without importing Litestar.
"""

from service.auth.principal import Principal, Role

__all__ = ["Principal", "Role"]
