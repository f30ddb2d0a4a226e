"""The pieces of a hall's configuration an admin authors one by one — calling areas, business
categories, business types, windows, staff — each declared once (`Piece`) and stored in its
table (cloud/hallconfig/tables.py), validated by the contract's own model (sync/hallsetup.py).

A piece is read and written in the contract's shape: a window is `Window` (its
`business_types` the ordered list the window serves, highest priority first), a staff member is
`StaffMember` — except that a staff member's `password_hash` is never answered (`password_set`
says whether there is one) and never taken: a `password` field sets it, Argon2-hashed here.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.audit import Origin, record
from cloud.errors import ApiError
from cloud.hallconfig.tables import (
    hall_areas,
    hall_business_types,
    hall_categories,
    hall_phrases,
    hall_staff,
    hall_staff_types,
    hall_window_types,
    hall_windows,
)
from cloud.identity.accounts import hash_password
from sync.hallsetup import BusinessCategory, BusinessType, CallingArea, StaffMember, Window

__all__ = [
    "PIECES",
    "Piece",
    "Reference",
    "Usage",
    "contract_problem",
    "create_piece",
    "delete_piece",
    "get_piece",
    "insert_item",
    "list_pieces",
    "read_items",
    "update_piece",
]

_PASSWORD = "password"
_SORT = "sort"
_MAX_PASSWORD = 128


@dataclass(frozen=True)
class Reference:
    """A field naming another piece of the same hall, which must exist."""

    field: str
    table: sa.Table
    label: str


@dataclass(frozen=True)
class Usage:
    """Rows of another table that name this piece: while there are any, it is not deleted."""

    table: sa.Table
    column: str
    label: str
    owner: str = "id"  # the column naming the row that uses it


@dataclass(frozen=True)
class Piece:
    """One kind of authored piece: its URL segment, Chinese label, table, contract model,
    the contract fields stored as columns, references, ordered business types, and usages."""

    name: str
    resource: str  # its name in the audit log
    label: str
    table: sa.Table
    model: type[BaseModel]
    fields: tuple[str, ...]
    references: tuple[Reference, ...] = ()
    types: sa.Table | None = None  # the ordered business types, owner column `types_owner`
    types_owner: str = ""
    used_by: tuple[Usage, ...] = ()
    has_password: bool = False


_TYPES = Reference("business_types", hall_business_types, "业务小类")

PIECES: dict[str, Piece] = {
    p.name: p
    for p in (
        Piece(
            "areas",
            "hall_area",
            "叫号区域",
            hall_areas,
            CallingArea,
            ("name",),
            used_by=(Usage(hall_windows, "area", "窗口"),),
        ),
        Piece(
            "categories",
            "hall_category",
            "业务大类",
            hall_categories,
            BusinessCategory,
            ("name", "waiting_warning"),
            used_by=(Usage(hall_business_types, "category", "业务小类"),),
        ),
        Piece(
            "business-types",
            "hall_business_type",
            "业务小类",
            hall_business_types,
            BusinessType,
            (
                "category",
                "name",
                "prefix",
                "description",
                "hint",
                "instructions",
                "department",
                "pinyin",
                "hours",
                "daily_cap",
                "duration_warning_seconds",
            ),
            references=(Reference("category", hall_categories, "业务大类"),),
            used_by=(
                Usage(hall_window_types, "business_type", "窗口", owner="window"),
                Usage(hall_staff_types, "business_type", "工作人员", owner="staff"),
            ),
        ),
        Piece(
            "windows",
            "hall_window",
            "窗口",
            hall_windows,
            Window,
            ("area", "number", "name"),
            references=(Reference("area", hall_areas, "叫号区域"),),
            types=hall_window_types,
            types_owner="window",
        ),
        Piece(
            "staff",
            "hall_staff",
            "工作人员",
            hall_staff,
            StaffMember,
            (
                "staff_no",
                "name",
                "password_hash",
                "card_no",
                "title",
                "department",
                "post_type",
                "stars",
                "can_issue_tickets",
            ),
            types=hall_staff_types,
            types_owner="staff",
            has_password=True,
        ),
    )
}


async def list_pieces(conn: AsyncConnection, piece: Piece, hall: str) -> list[dict[str, Any]]:
    """The hall's pieces of this kind in order, as the API shows them."""
    return [_shown(piece, item) for item in await read_items(conn, piece, hall)]


async def get_piece(conn: AsyncConnection, piece: Piece, hall: str, item_id: str) -> dict[str, Any]:
    """One piece as the API shows it; 404 `unknown_hall_config` when there is none."""
    return _shown(piece, await _one(conn, piece, hall, item_id))


async def read_items(conn: AsyncConnection, piece: Piece, hall: str) -> list[dict[str, Any]]:
    """The hall's pieces of this kind in the contract's shape (password hashes included, for
    the setup), each with its `sort`, in order."""
    rows = await conn.execute(
        sa.select(piece.table)
        .where(piece.table.c.hall == hall)
        .order_by(piece.table.c.sort, piece.table.c.id)
    )
    items = [_item(piece, row._mapping) for row in rows]
    if piece.types is not None:
        lists = await _type_lists(conn, piece, hall)
        for item in items:
            item["business_types"] = lists.get(item["id"], [])
    return items


async def create_piece(
    conn: AsyncConnection,
    piece: Piece,
    hall: str,
    body: dict[str, Any],
    *,
    department: str | None,
    origin: Origin,
    now_ms: int,
) -> dict[str, Any]:
    """Add a piece from the API's body (the caller holds the hall's lock); 409 when its id
    (or a staff number) is taken, 422 when it is invalid or names what the hall lacks."""
    sort, password, fields = _split(piece, body)
    if password is not None:
        fields["password_hash"] = await _hash(password)
    item = _validated(piece, fields)
    exists = await conn.scalar(
        sa.select(piece.table.c.id).where(
            piece.table.c.hall == hall, piece.table.c.id == item["id"]
        )
    )
    if exists is not None:
        raise ApiError("hall_config_exists", f"{piece.label} {item['id']}")
    if sort is None:
        last = await conn.scalar(
            sa.select(sa.func.max(piece.table.c.sort)).where(piece.table.c.hall == hall)
        )
        sort = 0 if last is None else int(last) + 1
    await insert_item(conn, piece, hall, item, sort=sort, department=department,
                      actor=origin.actor, now_ms=now_ms)  # fmt: skip
    await record(conn, origin, action="create", resource=piece.resource, resource_id=item["id"],
                 hall=hall, new={**item, _SORT: sort}, now_ms=now_ms)  # fmt: skip
    return _shown(piece, {**item, _SORT: sort})


async def update_piece(
    conn: AsyncConnection,
    piece: Piece,
    hall: str,
    item_id: str,
    body: dict[str, Any],
    *,
    department: str | None,
    origin: Origin,
    now_ms: int,
) -> dict[str, Any]:
    """Change the fields the body gives (the others stay); 404 for an unknown piece, 422 for
    a change that makes it invalid or names what the hall lacks."""
    before = await _one(conn, piece, hall, item_id)
    sort, password, fields = _split(piece, body)
    if fields.get("id", item_id) != item_id:
        raise ApiError("invalid_hall_config", "编号不能修改")
    if password is not None:
        fields["password_hash"] = await _hash(password)
    item = _validated(piece, {**_contract(piece, before), **fields})
    await _check_references(conn, piece, hall, item)
    await _check_unique(conn, piece, hall, item)
    sort = before[_SORT] if sort is None else sort
    values = {f: item[f] for f in piece.fields}
    await conn.execute(
        sa.update(piece.table)
        .where(piece.table.c.hall == hall, piece.table.c.id == item_id)
        .values(**values, sort=sort, department_id=department, updated_at=now_ms)
    )
    if piece.types is not None and item["business_types"] != before["business_types"]:
        await conn.execute(sa.delete(piece.types).where(*_owned_by(piece, hall, item_id)))
        await _insert_types(conn, piece, hall, item_id, item["business_types"])
    after = {**item, _SORT: sort}
    await record(conn, origin, action="update", resource=piece.resource, resource_id=item_id,
                 hall=hall, old=before, new=after, now_ms=now_ms)  # fmt: skip
    return _shown(piece, after)


async def delete_piece(
    conn: AsyncConnection, piece: Piece, hall: str, item_id: str, *, origin: Origin, now_ms: int
) -> None:
    """Remove a piece; 404 when there is none, 409 `hall_config_in_use` while another piece
    names it (a category its types, an area its windows, a type its windows and staff)."""
    before = await _one(conn, piece, hall, item_id)
    for usage in piece.used_by:
        column = usage.table.c[usage.column]
        users = (
            await conn.scalars(
                sa.select(usage.table.c[usage.owner])
                .where(usage.table.c.hall == hall, column == item_id)
                .order_by(usage.table.c[usage.owner])
                .limit(5)
            )
        ).all()
        if users:
            detail = f"{piece.label} {item_id} 仍被{usage.label} {'、'.join(users)} 使用"
            raise ApiError("hall_config_in_use", detail)
    if piece.types is not None:
        await conn.execute(sa.delete(piece.types).where(*_owned_by(piece, hall, item_id)))
    if piece.table is hall_areas:  # the area's own call templates go with it
        await conn.execute(
            sa.delete(hall_phrases).where(
                hall_phrases.c.hall == hall, hall_phrases.c.area == item_id
            )
        )
    await conn.execute(
        sa.delete(piece.table).where(piece.table.c.hall == hall, piece.table.c.id == item_id)
    )
    await record(conn, origin, action="delete", resource=piece.resource, resource_id=item_id,
                 hall=hall, old=before, now_ms=now_ms)  # fmt: skip


async def insert_item(
    conn: AsyncConnection,
    piece: Piece,
    hall: str,
    item: dict[str, Any],
    *,
    sort: int,
    department: str | None,
    actor: str,
    now_ms: int,
) -> None:
    """Insert one validated piece (the contract's shape) after checking what it names."""
    await _check_references(conn, piece, hall, item)
    await _check_unique(conn, piece, hall, item)
    await conn.execute(
        sa.insert(piece.table).values(
            hall=hall,
            id=item["id"],
            **{f: item[f] for f in piece.fields},
            sort=sort,
            department_id=department,
            created_by=actor,
            created_at=now_ms,
            updated_at=now_ms,
        )
    )
    if piece.types is not None:
        await _insert_types(conn, piece, hall, item["id"], item["business_types"])


def contract_problem(exc: ValidationError, label: str) -> str:
    """The first problems the contract's model found, named by field, in a Chinese sentence."""
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error["loc"])
        parts.append(f"{where}：{error['msg']}" if where else str(error["msg"]))
    return f"{label}：" + "；".join(parts)


# ---------------------------------------------------------------------------- helpers


def _split(piece: Piece, body: dict[str, Any]) -> tuple[int | None, str | None, dict[str, Any]]:
    """The body's `sort`, `password` and contract fields."""
    fields = dict(body)
    sort = fields.pop(_SORT, None)
    if sort is not None and (not isinstance(sort, int) or isinstance(sort, bool) or sort < 0):
        raise ApiError("invalid_hall_config", "sort 应为非负整数")
    password = fields.pop(_PASSWORD, None) if piece.has_password else None
    if piece.has_password:
        if "password_hash" in fields:
            raise ApiError("invalid_hall_config", "密码请通过 password 字段设置")
        if password is not None and (
            not isinstance(password, str) or len(password) > _MAX_PASSWORD
        ):
            raise ApiError(
                "invalid_hall_config", f"password 应为不超过 {_MAX_PASSWORD} 个字符的文本"
            )
    return sort, password, fields


async def _hash(password: str) -> str:
    """The Argon2 hash of a staff member's password; empty clears it (card login only)."""
    return await asyncio.to_thread(hash_password, password) if password else ""


def _validated(piece: Piece, fields: dict[str, Any]) -> dict[str, Any]:
    try:
        model = piece.model.model_validate(fields)
    except ValidationError as exc:
        raise ApiError("invalid_hall_config", contract_problem(exc, piece.label)) from None
    item = model.model_dump(mode="json")
    # the contract sets no length on most texts; the columns do, and a value past them must
    # be a refusal, not a database error
    for name, value in item.items():
        column = piece.table.c.get(name)
        length = getattr(column.type, "length", None) if column is not None else None
        if isinstance(value, str) and length is not None and len(value) > length:
            detail = f"{piece.label} {item.get('id', '')}：{name} 不能超过 {length} 个字符"
            raise ApiError("invalid_hall_config", detail)
    if piece.types is not None:
        twice = sorted({t for t in item["business_types"] if item["business_types"].count(t) > 1})
        if twice:
            detail = f"{piece.label} {item['id']}：业务小类 {'、'.join(twice)} 重复"
            raise ApiError("invalid_hall_config", detail)
    return item


async def _check_references(
    conn: AsyncConnection, piece: Piece, hall: str, item: dict[str, Any]
) -> None:
    references = piece.references + ((_TYPES,) if piece.types is not None else ())
    for ref in references:
        value = item[ref.field]
        wanted = set(value) if isinstance(value, list) else {value}
        if not wanted:
            continue
        found = set(
            (
                await conn.scalars(
                    sa.select(ref.table.c.id).where(
                        ref.table.c.hall == hall, ref.table.c.id.in_(wanted)
                    )
                )
            ).all()
        )
        missing = sorted(wanted - found)
        if missing:
            detail = f"{piece.label} {item['id']}：本大厅没有{ref.label} {'、'.join(missing)}"
            raise ApiError("hall_config_reference", detail)


async def _check_unique(
    conn: AsyncConnection, piece: Piece, hall: str, item: dict[str, Any]
) -> None:
    if piece.table is not hall_staff:
        return
    other = await conn.scalar(
        sa.select(hall_staff.c.id).where(
            hall_staff.c.hall == hall,
            hall_staff.c.staff_no == item["staff_no"],
            hall_staff.c.id != item["id"],
        )
    )
    if other is not None:
        raise ApiError("hall_config_exists", f"工号 {item['staff_no']} 已属于工作人员 {other}")


async def _one(conn: AsyncConnection, piece: Piece, hall: str, item_id: str) -> dict[str, Any]:
    row = (
        await conn.execute(
            sa.select(piece.table).where(piece.table.c.hall == hall, piece.table.c.id == item_id)
        )
    ).first()
    if row is None:
        raise ApiError("unknown_hall_config", f"{piece.label} {item_id}")
    item = _item(piece, row._mapping)
    if piece.types is not None:
        item["business_types"] = (await _type_lists(conn, piece, hall, item_id)).get(item_id, [])
    return item


def _item(piece: Piece, row: Any) -> dict[str, Any]:
    item = {"id": row["id"], **{f: row[f] for f in piece.fields}, _SORT: row[_SORT]}
    return item


def _contract(piece: Piece, item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k != _SORT}


def _shown(piece: Piece, item: dict[str, Any]) -> dict[str, Any]:
    """A piece as the API answers it: never a password hash."""
    if not piece.has_password:
        return dict(item)
    shown = {k: v for k, v in item.items() if k != "password_hash"}
    shown["password_set"] = bool(item.get("password_hash"))
    return shown


def _owned_by(piece: Piece, hall: str, item_id: str) -> list[sa.ColumnElement[bool]]:
    assert piece.types is not None
    return [piece.types.c.hall == hall, piece.types.c[piece.types_owner] == item_id]


async def _type_lists(
    conn: AsyncConnection, piece: Piece, hall: str, item_id: str | None = None
) -> dict[str, list[str]]:
    assert piece.types is not None
    owner = piece.types.c[piece.types_owner]
    where = [piece.types.c.hall == hall] + ([owner == item_id] if item_id is not None else [])
    rows = await conn.execute(
        sa.select(owner, piece.types.c.business_type)
        .where(*where)
        .order_by(owner, piece.types.c.position)
    )
    lists: dict[str, list[str]] = {}
    for who, business_type in rows:
        lists.setdefault(who, []).append(business_type)
    return lists


async def _insert_types(
    conn: AsyncConnection, piece: Piece, hall: str, item_id: str, types: list[str]
) -> None:
    assert piece.types is not None
    if types:
        await conn.execute(
            sa.insert(piece.types),
            [
                {"hall": hall, piece.types_owner: item_id, "business_type": t, "position": i}
                for i, t in enumerate(types)
            ],
        )
