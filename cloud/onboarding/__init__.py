"""Onboarding (入驻管理, §21.1): department entry and exit, staff entry, cancellation and
reinstatement as businesses on the workflow engine (`cloud.onboarding.flows`), the stationed
departments and staff archive they keep (`cloud.onboarding.tables`), and those two as declared
resources — the queries of §21.1.3 and §21.1.7 (`cloud.onboarding.queries`, `/api/r/…` and
`/portal/r/…`). The portal's start pages are `cloud.portal.onboarding`.

Submissions go through the workflow's API: `POST /api/workflow/instances` with the business
key (`onboarding.department_entry`, `onboarding.department_exit`, `onboarding.staff_entry`,
`onboarding.staff_cancel`, `onboarding.staff_reinstate`) and the form
(`cloud.onboarding.forms`).
"""

from __future__ import annotations

from aiohttp import web

from cloud.onboarding import boards, flows, queries, tables

__all__ = ["boards", "flows", "queries", "setup", "tables"]


def setup(app: web.Application) -> None:
    """Add the onboarding's routes to the cloud's app."""
