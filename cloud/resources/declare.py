"""How a resource is declared: its fields, its table, its scope, its list and its menu entry —
and the registry of every declared resource.

A resource declared once (`register(Resource(...))`, at import of its module) gets the REST
API `/api/r/<name>` (cloud/resources/api.py), the service functions the portal calls
(cloud/resources/service.py: lists with combined filters and paging, one record, create, update,
delete, Excel export), its five rights in the permission catalogue (`<name>.create`, `.edit`,
`.delete`, `.read`, `.view`), its audit policy and its menu entry (`/portal/r/<name>`).

The table a resource names must have:

- the id column (`id_column`, a string; the service makes a ULID when a create gives none);
- one column per field, of the field's name;
- the `department` column (org unit id) and the `owner` column (the creator's user id) when the
  resource declares them; the service fills them on create (the department defaults to the
  creator's, the owner is always the creator);
- optionally `created_at` / `updated_at` (BigInteger, ms), kept by the service when present.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa

from cloud.audit import POLICIES, AuditPolicy, Origin
from cloud.identity.permissions import register_resource

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from cloud.identity.principal import Principal

__all__ = [
    "FIELD_KINDS",
    "FILTER_KINDS",
    "PYTHON_TYPES",
    "RESOURCES",
    "Change",
    "Field",
    "FieldError",
    "FieldKind",
    "FilterKind",
    "Hook",
    "MenuSpot",
    "Resource",
    "lookup",
    "register",
]

FieldKind = Literal[
    "text",
    "textarea",
    "int",
    "decimal",
    "date",
    "datetime",
    "time",
    "bool",
    "choice",  # fixed `options`, or the items of a `dictionary` category
    "ref",  # the id of a record of the resource `ref`, shown by its `title` field
    "phone",
    "email",
    "id_number",  # 居民身份证号码, GB 11643 (sync/idnumber.py)
    "file",  # an upload id (cloud/uploads.py)
    "image",  # an upload id whose content is an image
]
FIELD_KINDS: tuple[FieldKind, ...] = FieldKind.__args__  # type: ignore[attr-defined]

# eq: equal; like: contains (case-insensitive); range: `<name>__from` / `<name>__to`,
# both inclusive, either optional; in: one of several values, comma-separated or repeated
FilterKind = Literal["eq", "like", "range", "in"]
FILTER_KINDS: tuple[FilterKind, ...] = FilterKind.__args__  # type: ignore[attr-defined]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_RESERVED = frozenset({"page", "page_size", "sort", "_reason", "_labels"})


@dataclass(frozen=True)
class Field:
    """One field of a resource: a column of its table, of the same name."""

    name: str
    label: str  # Chinese, what forms, list headers, exports and refusals show
    kind: FieldKind = "text"
    required: bool = False
    max_length: int | None = None  # text kinds; the column's length is the ceiling
    min: int | Decimal | None = None  # int and decimal
    max: int | Decimal | None = None
    unique: bool = False  # unique over the whole table (together with `unique_with`)
    unique_with: tuple[str, ...] = ()  # e.g. an item's code is unique within its category
    default: Any = None  # the value of a create that leaves the field out
    readonly: bool = False  # shown, never written by a caller (hooks derive it)
    hidden: bool = False  # not in lists, forms or exports (hooks and the API still have it)
    secret: bool = False  # never answered, exported or written to the audit log
    filter: FilterKind | None = None  # how lists filter on it; None: not at all
    options: tuple[tuple[str, str], ...] = ()  # choice: (value, Chinese label)
    dictionary: str | None = None  # choice: the code of a dictionary category instead
    ref: str | None = None  # ref: the referenced resource's name
    # a valid value for a create: the generated tests (tests/cloud/resources/) make records
    # from the examples; a unique text field gets a suffix, a unique int an increment
    example: Any = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name) or self.name in _RESERVED:
            raise ValueError(f"field name {self.name!r} is not allowed")
        if self.kind not in FIELD_KINDS:
            raise ValueError(f"field {self.name}: unknown kind {self.kind!r}")
        if self.filter is not None and self.filter not in FILTER_KINDS:
            raise ValueError(f"field {self.name}: unknown filter {self.filter!r}")
        if self.kind == "choice" and not self.options and self.dictionary is None:
            raise ValueError(f"field {self.name}: a choice needs options or a dictionary")
        if self.kind == "ref" and self.ref is None:
            raise ValueError(f"field {self.name}: a ref needs the referenced resource")

    @property
    def writable(self) -> bool:
        return not self.readonly

    @property
    def listed(self) -> bool:
        """Whether the field may be a list or export column, or a sort key."""
        return not (self.hidden or self.secret)


@dataclass(frozen=True)
class MenuSpot:
    """Where the resource's list page appears in the portal's menu (§21.3.6)."""

    parent: str  # the parent entry's id in cloud/identity/menus.py, e.g. "system"
    title: str
    sort: int = 0

    def path(self, resource: str) -> str:
        """The list page the portal serves for the resource."""
        return f"/portal/r/{resource}"


@dataclass
class Change:
    """A write under way, handed to the resource's hooks inside its transaction.

        `new` holds the values to be stored (field name -> Python value: str, int, Decimal,
        date, datetime, time, bool, None); a `before` hook may change it (derived values) or
        refuse the change with `FieldError`. For an update `new` is the whole record as it will
        be; for a delete it is None. `old` is the stored record (None for a create). `origin` is the
    change's origin (its actor, address and reason) for the audit rows hooks write."""

    conn: AsyncConnection
    principal: Principal
    resource: Resource
    action: Literal["create", "update", "delete"]
    id: str
    old: Mapping[str, Any] | None
    new: dict[str, Any] | None
    # who makes the change and from where: a hook that changes another record writes its
    # audit row with it
    origin: Origin | None = None


Hook = Callable[[Change], Awaitable[None]]


class FieldError(Exception):
    """A field's value is refused (422 `invalid_field`, naming the field by its label)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Resource:
    """A declared resource; see the module's docstring for what its table must hold."""

    name: str  # lower_snake, the URL segment and the permissions' prefix
    label: str  # Chinese
    table: sa.Table
    fields: tuple[Field, ...]
    title: str = "name"  # the field that names a record (refs show it)
    id_column: str = "id"
    department: str | None = "department_id"  # None: the records belong to no org unit
    owner: str | None = "created_by"  # None: creators are not recorded
    # False: global data (dictionaries): whoever holds a right reaches every record
    scoped: bool = True
    reason_required: bool = False  # every change needs a reason (audit log)
    hall: str | None = None  # a column naming the record's hall, for the audit log
    order: tuple[str, ...] = ()  # default sort, e.g. ("sort", "-created_at"); id always last
    columns: tuple[str, ...] = ()  # list columns; empty: every listed field
    menu: MenuSpot | None = None
    before: tuple[Hook, ...] = ()  # run before the write, may derive values or refuse
    after: tuple[Hook, ...] = ()  # run after the write, same transaction

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"resource name {self.name!r} is not lower_snake")
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"resource {self.name}: a field is declared twice")
        columns = set(self.table.c.keys())
        special = [self.id_column, self.department, self.owner, self.hall]
        for name in [*names, *(s for s in special if s is not None)]:
            if name not in columns:
                raise ValueError(f"resource {self.name}: table {self.table.name} has no {name}")
        for spot in (self.department, self.owner, self.id_column):
            if spot in names:
                raise ValueError(f"resource {self.name}: {spot} is kept by the service")
        for key in (*self.columns, *(o.lstrip("-") for o in self.order)):
            if key not in names and key not in ("created_at", "updated_at"):
                raise ValueError(f"resource {self.name}: no field {key} to list or sort by")
        for f in self.fields:
            for other in f.unique_with:
                if other not in names:
                    raise ValueError(f"resource {self.name}: {f.name} unique with unknown {other}")
        if self.title not in names:
            raise ValueError(f"resource {self.name}: title field {self.title} is not a field")

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def list_columns(self) -> tuple[Field, ...]:
        if self.columns:
            return tuple(self.field(c) for c in self.columns if c in self._names)
        return tuple(f for f in self.fields if f.listed)

    @property
    def filters(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.filter is not None and f.listed)

    @property
    def secret_fields(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields if f.secret)

    @property
    def _names(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields)

    def permission(self, right: str) -> str:
        return f"{self.name}.{right}"

    def column(self, name: str) -> sa.Column[Any]:
        return self.table.c[name]


RESOURCES: dict[str, Resource] = {}


def register(resource: Resource) -> Resource:
    """Declare `resource`: into the registry, its five rights into the permission catalogue,
    its audit policy into the audit log's; at import of the declaring module. Declaring a
    name twice with another declaration is a programming error."""
    known = RESOURCES.get(resource.name)
    if known is not None and known is not resource:
        raise ValueError(f"resource {resource.name!r} declared twice")
    for f in resource.fields:
        if f.kind == "ref" and f.ref != resource.name and f.ref not in RESOURCES:
            raise ValueError(f"{resource.name}.{f.name}: declare {f.ref} before it")
    RESOURCES[resource.name] = resource
    register_resource(resource.name, resource.label)
    POLICIES[resource.name] = AuditPolicy(
        resource.name,
        resource.label,
        reason_required=resource.reason_required,
        secret_fields=resource.secret_fields,
    )
    if resource.menu is not None:
        from cloud.identity.menus import MenuEntry, contribute

        spot = resource.menu
        contribute(
            MenuEntry(
                id=f"{spot.parent}.{resource.name}",
                title=spot.title,
                path=spot.path(resource.name),
                permission=resource.permission("view"),
                parent=spot.parent,
                sort=spot.sort,
            )
        )
    return resource


def lookup(name: str) -> Resource | None:
    """The declared resource `name`, None when there is none."""
    return RESOURCES.get(name)


# what each kind's values are in Python (documentation for hooks; checked by the tests)
PYTHON_TYPES: Mapping[FieldKind, type | tuple[type, ...]] = {
    "text": str,
    "textarea": str,
    "int": int,
    "decimal": Decimal,
    "date": dt.date,
    "datetime": dt.datetime,
    "time": dt.time,
    "bool": bool,
    "choice": str,
    "ref": str,
    "phone": str,
    "email": str,
    "id_number": str,
    "file": str,
    "image": str,
}
