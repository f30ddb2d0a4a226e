"""Who is calling and what they may do: the principal, its grants and data scopes, and the
checks every cloud call makes on the server.

- **Function permissions** (功能权限, §21.3.4) are codes (`dictionary.create`,
  `workflow.design`, `cloud/identity/permissions.py`) granted to roles; a user holds the grants
  of their roles and of the roles in their role groups.
- **Data permissions** (数据权限, §21.3.5): each grant carries a scope, the records it reaches —
  `own` (records the user created), `dept` (records of the user's department), `dept_tree`
  (the user's department and every unit below it) or `all`. A user holding one permission
  through several roles gets the widest scope.
- A **superuser** (and a configured admin token, the bootstrap account) holds every permission
  over all records.

`authorize` refuses a call the principal may not make (403 `forbidden_operation`);
`scope_clause` is the WHERE clause that keeps a list to the records in scope;
`check_record` refuses one record out of scope — 404, as if it were not there, when the
principal may not even view it, else 403.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.auth import bearer_token, check_admin
from cloud.context import CONFIG, ENGINE
from cloud.errors import ApiError
from cloud.identity.tables import (
    org_closure,
    org_units,
    role_grants,
    role_group_roles,
    sessions,
    user_role_groups,
    user_roles,
    users,
)

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SCOPES",
    "SESSION_COOKIE",
    "Principal",
    "Scope",
    "authorize",
    "check_record",
    "current_principal",
    "hall_unit",
    "load_principal",
    "scope_clause",
    "session_digest",
    "wider",
]

Scope = Literal["own", "dept", "dept_tree", "all"]
SCOPES: tuple[Scope, ...] = ("own", "dept", "dept_tree", "all")  # narrow to wide

SESSION_COOKIE = "smarthall_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# a session's last_seen_at is written at most this often (ms): not a write per request
_TOUCH_EVERY_MS = 60_000


@dataclass(frozen=True)
class Principal:
    """A signed-in user (or the bootstrap admin of a configured token) and what they hold."""

    id: str  # users.id; "admin:<id>" for a configured admin token
    username: str
    name: str
    department_id: str | None = None
    superuser: bool = False
    grants: Mapping[str, Scope] = field(default_factory=dict)
    session_id: str | None = None  # None: authenticated by a bearer token
    csrf_token: str | None = None

    @property
    def actor(self) -> str:
        """How the audit log names this principal."""
        return self.id if self.id.startswith("admin:") else f"user:{self.username}"

    def scope(self, permission: str) -> Scope | None:
        """The widest scope over which the principal holds `permission`, None if not at all."""
        if self.superuser:
            return "all"
        return self.grants.get(permission)

    def can(self, permission: str) -> bool:
        return self.scope(permission) is not None


def wider(a: Scope | None, b: Scope | None) -> Scope | None:
    """The wider of two scopes."""
    if a is None:
        return b
    if b is None:
        return a
    return a if SCOPES.index(a) >= SCOPES.index(b) else b


def authorize(principal: Principal, permission: str) -> Scope:
    """The principal's scope for `permission`, or the refusal 403."""
    scope = principal.scope(permission)
    if scope is None:
        raise ApiError("forbidden_operation", permission)
    return scope


def scope_clause(
    principal: Principal,
    permission: str,
    *,
    department: sa.ColumnElement[Any] | None,
    owner: sa.ColumnElement[Any] | None,
) -> sa.ColumnElement[bool]:
    """The condition that keeps a query to the rows within the principal's scope for
    `permission` (false when not held at all). `department` and `owner` are the rows' owning
    org unit and creator columns; a resource without one of them has nothing in that scope."""
    scope = principal.scope(permission)
    if scope == "all":
        return sa.true()
    if scope == "own":
        return owner == principal.id if owner is not None else sa.false()
    if scope is None or department is None or principal.department_id is None:
        # a user without a department reaches their own records only
        if scope is not None and owner is not None:
            return owner == principal.id
        return sa.false()
    mine = owner == principal.id if owner is not None else sa.false()
    if scope == "dept":
        return sa.or_(department == principal.department_id, mine)
    below = sa.select(org_closure.c.descendant).where(
        org_closure.c.ancestor == principal.department_id
    )
    return sa.or_(department.in_(below), mine)


async def in_scope(
    conn: AsyncConnection,
    principal: Principal,
    permission: str,
    *,
    department: str | None,
    owner: str | None,
) -> bool:
    """Whether one record (owned by `department`, created by `owner`) is in the principal's
    scope for `permission`."""
    scope = principal.scope(permission)
    if scope is None:
        return False
    if scope == "all" or (owner is not None and owner == principal.id):
        return True
    if scope == "own" or department is None or principal.department_id is None:
        return False
    if scope == "dept":
        return department == principal.department_id
    found = await conn.scalar(
        sa.select(sa.literal(1)).where(
            org_closure.c.ancestor == principal.department_id,
            org_closure.c.descendant == department,
        )
    )
    return found is not None


async def check_record(
    conn: AsyncConnection,
    principal: Principal,
    resource: str,
    right: str,
    *,
    department: str | None,
    owner: str | None,
    not_found: str = "not_found",
) -> None:
    """Refuse `right` (`edit`, `read`, …) on one record of `resource`: 404 `not_found` when the
    principal may not even view it (its existence is not revealed), 403 when they may view it
    but not this."""
    where = {"department": department, "owner": owner}
    if not await in_scope(conn, principal, f"{resource}.view", **where) and not await in_scope(
        conn, principal, f"{resource}.read", **where
    ):
        raise ApiError(not_found)
    if right != "view" and not await in_scope(conn, principal, f"{resource}.{right}", **where):
        raise ApiError("forbidden_operation", f"{resource}.{right}")


async def hall_unit(conn: AsyncConnection, hall: str) -> str | None:
    """The org unit (网点) a hall belongs to, the department of its records."""
    found = await conn.scalar(sa.select(org_units.c.id).where(org_units.c.hall == hall).limit(1))
    return cast(str | None, found)


async def load_principal(
    conn: AsyncConnection,
    user_id: str,
    *,
    session_id: str | None = None,
    csrf_token: str | None = None,
) -> Principal | None:
    """The active user `user_id` with their grants; None if there is none or they may not
    sign in (disabled, cancelled)."""
    user = (
        await conn.execute(
            sa.select(
                users.c.id,
                users.c.username,
                users.c.name,
                users.c.department_id,
                users.c.superuser,
                users.c.status,
            ).where(users.c.id == user_id)
        )
    ).first()
    if user is None or user.status != "active":
        return None
    role_ids = sa.union(
        sa.select(user_roles.c.role_id).where(user_roles.c.user_id == user_id),
        sa.select(role_group_roles.c.role_id)
        .join(user_role_groups, user_role_groups.c.group_id == role_group_roles.c.group_id)
        .where(user_role_groups.c.user_id == user_id),
    ).subquery()
    rows = await conn.execute(
        sa.select(role_grants.c.permission, role_grants.c.scope).where(
            role_grants.c.role_id.in_(sa.select(role_ids.c.role_id))
        )
    )
    grants: dict[str, Scope] = {}
    for permission, scope in rows:
        widest = wider(grants.get(permission), cast(Scope, scope))
        assert widest is not None
        grants[permission] = widest
    return Principal(
        id=user.id,
        username=user.username,
        name=user.name,
        department_id=user.department_id,
        superuser=bool(user.superuser),
        grants=grants,
        session_id=session_id,
        csrf_token=csrf_token,
    )


def session_digest(token: str) -> str:
    """A session's id in the table: the SHA-256 of the cookie's token (a stolen table does not
    give sessions away)."""
    return hashlib.sha256(token.encode()).hexdigest()


_PRINCIPAL = web.RequestKey("smarthall.principal", Principal)


async def current_principal(request: web.Request) -> Principal:
    """The caller of `request`, or the refusal 401: a configured admin token (the bootstrap
    superuser) in `Authorization: Bearer`, or the session cookie of a signed-in user. A request
    that changes something on a cookie's strength must carry the session's CSRF token
    (`X-CSRF-Token` header, or the `csrf_token` field of a form), else 403 `csrf_failed`."""
    known = request.get(_PRINCIPAL)
    if isinstance(known, Principal):
        return known
    config = request.app[CONFIG]
    header = request.headers.get("Authorization")
    if bearer_token(header) is not None:
        admins = config.api.admins
        which = check_admin(header, [a.token_sha256 for a in admins])
        admin = admins[which].id
        principal = Principal(id=f"admin:{admin}", username=admin, name=admin, superuser=True)
    else:
        principal = await _session_principal(request)
        if request.method not in _SAFE_METHODS:
            await _check_csrf(request, principal)
    request[_PRINCIPAL] = principal
    return principal


async def _session_principal(request: web.Request) -> Principal:
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 200:
        raise ApiError("unauthorized")
    digest = session_digest(token)
    idle_ms = int(request.app[CONFIG].auth.idle_minutes * 60_000)
    now = time.time_ns() // 1_000_000
    async with request.app[ENGINE].connect() as conn:
        row = (
            await conn.execute(
                sa.select(
                    sessions.c.user_id,
                    sessions.c.csrf_token,
                    sessions.c.expires_at,
                    sessions.c.last_seen_at,
                ).where(sessions.c.id == digest)
            )
        ).first()
        if row is None or row.expires_at <= now or row.last_seen_at + idle_ms <= now:
            raise ApiError("session_expired" if row is not None else "unauthorized")
        principal = await load_principal(
            conn, row.user_id, session_id=digest, csrf_token=row.csrf_token
        )
        if principal is None:
            raise ApiError("unauthorized")
        if now - row.last_seen_at >= _TOUCH_EVERY_MS:
            await conn.execute(
                sessions.update().where(sessions.c.id == digest).values(last_seen_at=now)
            )
            await conn.commit()
    return principal


async def _check_csrf(request: web.Request, principal: Principal) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        form = await request.post()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    expected = principal.csrf_token or ""
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        raise ApiError("csrf_failed")
