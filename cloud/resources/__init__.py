"""Declarative resources: a resource declared once gets its REST API, filtered lists, forms
and Excel export (issue 7).

- `cloud.resources.declare`: `Resource`, `Field`, `MenuSpot`, `Change`/`Hook`, `FieldError`,
  the registry `RESOURCES` and `register` — what a module imports to declare a resource.
- `cloud.resources.service`: `list_rows`, `get_row`, `create_row`, `update_row`,
  `delete_row`, `export_rows`, `parse_query`, `schema` — what the portal calls directly.
- `cloud.resources.api`: the routes `/api/r/{resource}…`.
- `cloud.resources.catalog`: the first declarations (dictionaries, SMS templates, positions).
"""

from __future__ import annotations

from aiohttp import web

__all__ = ["setup"]


def setup(app: web.Application) -> None:
    """Add the resources' routes to the cloud's app."""
    import cloud.resources.catalog  # noqa: F401  (its declarations)
    from cloud.resources.api import setup as add_routes

    add_routes(app)
