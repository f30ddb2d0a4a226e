"""The audit log: who changed what, when, from where, and the old and new values.

Every admin write records its row with `record`, on the connection of the change itself: the
change and its audit row commit or roll back together, so a refused change leaves no row and
no change goes unrecorded.

- **Who**: `Origin.actor` — `admin:<id>` for an admin token, `hall:<id>` for a hall, `system`
  for the cloud's own rounds.
- **From where**: `request.remote`; behind a trusted reverse proxy (`[api]
  trust_forwarded_for = true`) the last address of `X-Forwarded-For`, the one that proxy
  appended (the entries before it are whatever the client claimed). The user agent is kept
  truncated to `USER_AGENT_LENGTH` characters.
- **Why**: the reason is the JSON body's `reason` where a call's body has that field (calendar
  exceptions, put or removed), else the `X-Change-Reason` header, percent-encoded UTF-8 (HTTP
  headers carry Latin-1 only: `encodeURIComponent("系统升级")`). A resource declares whether
  a reason is required (`POLICIES`); a change without one is refused, 422 `reason_required`.
- **What**: the full row for a create or a delete; where both `old` and `new` are given (an
  update; a setup version against the one before it), only the fields that differ. Secret
  fields (a hall's secret, its hash, tokens) are never stored.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, replace
from typing import Any, Literal
from urllib.parse import unquote

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cloud.db import audit_log
from cloud.errors import ApiError

__all__ = [
    "POLICIES",
    "REASON_HEADER",
    "SYSTEM",
    "USER_AGENT_LENGTH",
    "AuditPolicy",
    "AuditQuery",
    "Origin",
    "audit_page",
    "record",
    "register_policy",
    "required_reason",
]

log = logging.getLogger(__name__)

REASON_HEADER = "X-Change-Reason"
USER_AGENT_LENGTH = 200
REASON_LENGTH = 500

Action = Literal["create", "update", "delete"]


@dataclass(frozen=True)
class AuditPolicy:
    """How a resource is audited: its Chinese name, whether every change of it needs a
    reason, and the fields never written to the log."""

    resource: str
    label: str
    reason_required: bool = False
    secret_fields: frozenset[str] = frozenset()


# a resource audited here is declared here; `record` refuses one that is not
POLICIES: dict[str, AuditPolicy] = {
    p.resource: p
    for p in (
        AuditPolicy("hall", "大厅", secret_fields=frozenset({"secret_hash"})),
        AuditPolicy("hall_setup", "大厅配置"),
        AuditPolicy("booking", "预约"),
        AuditPolicy("calendar_exception", "行事历", reason_required=True),
    )
}


def register_policy(policy: AuditPolicy) -> AuditPolicy:
    """Declare how a capability's resource is audited (at import of its module); declaring a
    resource twice with another policy is a programming error."""
    known = POLICIES.get(policy.resource)
    if known is not None and known != policy:
        raise ValueError(f"audit policy for {policy.resource!r} declared twice")
    POLICIES[policy.resource] = policy
    return policy


# never logged, whatever the resource declares
_ALWAYS_SECRET = frozenset({"secret", "secret_hash", "token", "password", "password_hash"})


@dataclass(frozen=True)
class Origin:
    """Who makes a change and from where, with the reason they gave."""

    actor: str
    remote: str | None = None
    user_agent: str | None = None
    reason: str | None = None

    @classmethod
    def of_request(
        cls, request: web.Request, actor: str, *, trust_forwarded_for: bool = False
    ) -> Origin:
        """The request's origin, its reason from the `X-Change-Reason` header."""
        remote = request.remote
        if trust_forwarded_for:
            forwarded = [a.strip() for a in request.headers.get("X-Forwarded-For", "").split(",")]
            if forwarded[-1]:
                remote = forwarded[-1][:64]
        agent = request.headers.get("User-Agent")
        header = request.headers.get(REASON_HEADER)
        return cls(
            actor=actor,
            remote=remote,
            user_agent=agent[:USER_AGENT_LENGTH] if agent else None,
            reason=unquote(header, errors="replace") if header else None,
        )

    def with_body_reason(self, raw: bytes) -> Origin:
        """This origin with the `reason` of a JSON object body (a call whose body is nothing
        else, such as a removal), when it gives one."""
        try:
            body = json.loads(raw) if raw.strip() else None
        except (ValueError, UnicodeDecodeError):
            return self
        reason = body.get("reason") if isinstance(body, dict) else None
        return self.with_reason(reason if isinstance(reason, str) else None)

    def with_reason(self, reason: str | None) -> Origin:
        """This origin with the body's reason, when it gives one (it wins over the header)."""
        return replace(self, reason=reason) if reason and reason.strip() else self


SYSTEM = Origin(actor="system")


def required_reason(resource: str, origin: Origin) -> str | None:
    """The origin's reason, stripped; 422 `reason_required` when the resource requires one
    and it is missing or blank, 400 when it is too long."""
    policy = _policy(resource)
    reason = (origin.reason or "").strip()
    if policy.reason_required and not reason:
        raise ApiError("reason_required", policy.label)
    if len(reason) > REASON_LENGTH:
        raise ApiError("invalid_request", f"原因不能超过 {REASON_LENGTH} 个字")
    return reason or None


async def record(
    conn: AsyncConnection,
    origin: Origin,
    *,
    action: Action,
    resource: str,
    resource_id: str,
    hall: str | None,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    now_ms: int,
) -> None:
    """Write the change's audit row in the change's own transaction (`conn`); refuses (422)
    when the resource requires a reason and the origin has none, which rolls the change
    back with it."""
    reason = required_reason(resource, origin)
    hidden = _policy(resource).secret_fields | _ALWAYS_SECRET
    before = _plain(old, hidden)
    after = _plain(new, hidden)
    if before is not None and after is not None:
        changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        before = {k: before[k] for k in changed if k in before}
        after = {k: after[k] for k in changed if k in after}
    await conn.execute(
        sa.insert(audit_log).values(
            at=now_ms,
            actor=origin.actor,
            action=action,
            resource=resource,
            resource_id=resource_id,
            hall=hall,
            old=before,
            new=after,
            reason=reason,
            remote=origin.remote,
            user_agent=origin.user_agent,
        )
    )


@dataclass(frozen=True)
class AuditQuery:
    """A page of the log, newest first: every filter optional, `before_id` the keyset."""

    resource: str | None = None
    resource_id: str | None = None
    hall: str | None = None
    actor: str | None = None
    since: int | None = None  # ms, inclusive
    until: int | None = None  # ms, exclusive
    before_id: int | None = None
    limit: int = 100


async def audit_page(engine: AsyncEngine, query: AuditQuery) -> dict[str, Any]:
    """The rows matching `query`, newest first; `next_before_id` continues after them (None
    on the last page)."""
    columns = audit_log.c
    where = [
        column == value
        for column, value in (
            (columns.resource, query.resource),
            (columns.resource_id, query.resource_id),
            (columns.hall, query.hall),
            (columns.actor, query.actor),
        )
        if value is not None
    ]
    if query.since is not None:
        where.append(columns.at >= query.since)
    if query.until is not None:
        where.append(columns.at < query.until)
    if query.before_id is not None:
        where.append(columns.id < query.before_id)
    statement = (
        sa.select(audit_log).where(*where).order_by(columns.id.desc()).limit(query.limit + 1)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(statement)).all()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return {
        "entries": [_entry(row) for row in rows],
        "next_before_id": int(rows[-1].id) if more else None,
    }


# ---------------------------------------------------------------------------- helpers


def _policy(resource: str) -> AuditPolicy:
    try:
        return POLICIES[resource]
    except KeyError:
        raise ValueError(f"resource {resource!r} has no audit policy") from None


def _plain(values: dict[str, Any] | None, hidden: frozenset[str]) -> dict[str, Any] | None:
    """The values as JSON (dates and times in ISO format), without the hidden fields at any
    depth (a hall setup's staff carry their password hashes)."""
    if values is None:
        return None
    plain: dict[str, Any] = _without(
        json.loads(json.dumps(values, default=_iso, ensure_ascii=False)), hidden
    )
    return plain


def _without(value: Any, hidden: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {k: _without(v, hidden) for k, v in value.items() if k not in hidden}
    if isinstance(value, list):
        return [_without(v, hidden) for v in value]
    return value


def _iso(value: Any) -> str:
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _entry(row: sa.Row[Any]) -> dict[str, Any]:
    return {
        "id": int(row.id),
        "at": int(row.at),
        "actor": row.actor,
        "action": row.action,
        "resource": row.resource,
        "resource_id": row.resource_id,
        "hall": row.hall,
        "old": row.old,
        "new": row.new,
        "reason": row.reason,
        "remote": row.remote,
        "user_agent": row.user_agent,
    }
