"""Onboarding (入驻管理, §21.1): department entry and exit, staff entry, cancellation and
reinstatement as businesses on the workflow engine (`cloud.onboarding.flows`), and the
stationed departments and staff archive they keep (`cloud.onboarding.tables`).

Submissions go through the workflow's API: `POST /api/workflow/instances` with the business
key (`onboarding.department_entry`, `onboarding.department_exit`, `onboarding.staff_entry`,
`onboarding.staff_cancel`, `onboarding.staff_reinstate`) and the form
(`cloud.onboarding.forms`).
"""

from __future__ import annotations

from aiohttp import web

from cloud.onboarding import flows, tables

__all__ = ["flows", "setup", "tables"]


def setup(app: web.Application) -> None:
    """Add the onboarding's routes to the cloud's app."""
