"""Identity, roles, tenants and the audit log: who may call which route, for which tenant.

* ``keys``: API keys for machines (``cbz_<id>_<secret>``, stored as a sha256 of the secret).
* ``oidc``: OIDC JWTs for people, verified against a JWKS (URL or file).
* ``policy``: the one table of method + route template -> roles (fail closed).
* ``guard``: the app-level dependency every service's ``create_app`` installs.
* ``audit``: the append-only ``auth.audit_log`` and ``GET /v1/audit``.
"""
