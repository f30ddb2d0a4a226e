"""The workflow engine (流程, §21.4): approval flows as data, and the seed's onboarding flows
(入驻管理, §21.1) on it.

- `flows`: definitions, validated and versioned (an edit is a new version; instances keep
  theirs); `workflow.design`.
- `engine`: `start`, `act`, `withdraw`, `resubmit`, `delegate`, `urge` — one transaction each,
  the instance row locked, business hooks (`business.register_business`) in that transaction.
- `lists`: `todo`, `involved`, `done`, `instance_view`, `supervise` for the work table.
- `api`: the same under `/api/workflow/`; `cloud.onboarding` adds `/api/onboarding/`.

Every service takes the caller's `Principal` and checks it itself, so the portal calls them
directly and gets the same answers and refusals as the REST API.
"""

from __future__ import annotations

from aiohttp import web

from cloud import onboarding
from cloud.workflow import api, menu

__all__ = ["menu", "setup"]


def setup(app: web.Application) -> None:
    """Add the workflow's and the onboarding's routes to the cloud's app."""
    app.router.add_routes(api.routes())
    onboarding.setup(app)
