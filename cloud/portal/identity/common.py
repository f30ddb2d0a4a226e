"""What the identity pages share: a service's change run from a form (its refusal shown next to
the field it concerns), the form read as the service's input, and the choices of the forms.

Every page calls the identity's services (`cloud/identity/*_service.py`, `menus.py`), which
check the user's rights and data scope on the server; the buttons only follow them. A form's
bad input comes back as the form with the Chinese reason next to its field (422); a refusal of
the record itself (404, 403) is the portal's refusal page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from aiohttp import web
from multidict import MultiDictProxy
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.context import ENGINE
from cloud.errors import ApiError
from cloud.identity.org_service import visible_units
from cloud.identity.principal import Principal
from cloud.identity.roles_service import list_groups, list_roles
from cloud.identity.tables import org_units
from cloud.portal.forms import FormErrors

__all__ = [
    "Form",
    "attempt",
    "echo",
    "form_choices",
    "parsed",
    "rights",
    "whole_number",
]

_M = TypeVar("_M", bound=BaseModel)
_T = TypeVar("_T")
Form = MultiDictProxy[Any]

# which form field a service's refusal belongs next to
_FIELD_OF = {
    "org_code_taken": "code",
    "hall_linked": "hall",
    "hall_needs_site": "hall",
    "unknown_user": "head_user_id",
    "org_cycle": "parent_id",
    "username_taken": "username",
    "weak_password": "password",
    "superuser_only": "superuser",
    "role_code_taken": "code",
    "role_group_taken": "name",
    "menu_exists": "id",
    "menu_cycle": "parent_id",
    "unknown_permission": "permission",
    "unknown_org_unit": "department_id",
}
_PYDANTIC_TEXTS = {
    "string_too_short": "不能为空",
    "missing": "不能为空",
    "string_too_long": "太长了",
    "string_pattern_mismatch": "只能使用字母、数字和 _ . - 等符号",
    "int_parsing": "须为整数",
    "greater_than_equal": "数值太小",
    "less_than_equal": "数值太大",
    "literal_error": "请选择",
}


async def attempt(
    request: web.Request,
    errors: FormErrors,
    action: Callable[[AsyncConnection], Awaitable[_T]],
) -> _T | None:
    """Run a service's change in a transaction; its refusal goes next to the field it concerns
    (or above the form), and nothing is changed."""
    try:
        async with request.app[ENGINE].begin() as conn:
            return await action(conn)
    except ApiError as exc:
        if exc.code in ("unauthorized", "session_expired", "csrf_failed"):
            raise
        errors.add(_FIELD_OF.get(exc.code, ""), exc.message)
        return None


def parsed(model: type[_M], values: dict[str, Any], errors: FormErrors) -> _M | None:
    """The form's values as the service's input, or None with what is wrong by field."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            errors.add(field, _PYDANTIC_TEXTS.get(error["type"], "填写不正确"))
        return None


def echo(form: Form) -> dict[str, str]:
    return {k: v for k, v in form.items() if isinstance(v, str)}


def rights(me: Principal, resource: str) -> dict[str, bool]:
    return {r: me.can(f"{resource}.{r}") for r in ("create", "edit", "delete", "read", "view")}


def whole_number(text: str | None, default: int) -> int:
    try:
        value = int(text or "")
    except ValueError:
        return default
    return value if 1 <= value <= 1_000_000_000_000 else default


async def form_choices(conn: AsyncConnection, me: Principal) -> dict[str, Any]:
    """The departments, roles and role groups the user may choose from in forms and filters."""
    if me.can("org.view"):
        units = (await visible_units(conn, me)).units
    elif me.department_id is not None:
        row = (
            await conn.execute(sa.select(org_units).where(org_units.c.id == me.department_id))
        ).first()
        units = [{"id": row.id, "name": row.name, "kind": row.kind}] if row is not None else []
    else:
        units = []
    roles = await list_roles(conn, me) if me.can("role.view") else []
    groups = await list_groups(conn, me) if me.can("role.view") else []
    return {
        "departments": units,
        "department_options": [(u["id"], u["name"]) for u in units],
        "department_names": {u["id"]: u["name"] for u in units},
        "all_roles": roles,
        "all_groups": groups,
    }
