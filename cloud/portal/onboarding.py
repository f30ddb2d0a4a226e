"""The onboarding start pages (入驻管理, §21.1.1–21.1.6): the five application forms, made from
the onboarding form models (cloud/onboarding/forms.py) with Chinese labels, submitted to the
workflow service, which checks the right to apply and the form; then on to the instance page.

The staff entry's photo and its signed notice and commitment (告知书和承诺书, scanned) are file
inputs: checked by content and size by the uploads service in the same request, recorded as the
applicant's uploads and carried in the form as their ids. A form refused after that keeps them
(their ids posted back, checked again as the applicant's own by the business's validation), so
nothing has to be chosen twice. On approval they land in the staff archive; its edit page shows
the signed documents.

The two queries (§21.1.3, §21.1.7) are declared resources: their menu addresses lead to the
resources' own pages.
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Union

import sqlalchemy as sa
from aiohttp import web
from multidict import MultiDictProxy
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.calls import origin
from cloud.context import CONFIG, ENGINE
from cloud.errors import ApiError
from cloud.identity.principal import Principal, authorize, scope_clause
from cloud.identity.tables import org_units
from cloud.onboarding import flows
from cloud.onboarding.forms import DepartmentEntry, DepartmentExit, StaffChange, StaffEntry
from cloud.onboarding.queries import (
    ATTACHMENT_TYPES,
    STAFF_ARCHIVE,
    STATIONED_DEPARTMENT,
    attach_documents,
    detach_documents,
)
from cloud.onboarding.tables import staff, staff_attachments, stationed_departments
from cloud.portal.forms import FormErrors, form_list
from cloud.portal.render import now_ms, page, redirect, render
from cloud.portal.resources import Attached, show_attached
from cloud.uploads import (
    IMAGE_TYPES,
    Received,
    UploadInfo,
    describe_uploads,
    discard,
    receive_field,
    record_upload,
)
from cloud.workflow import engine as workflow

__all__ = [
    "APPLICATIONS",
    "FILE_SUFFIX",
    "Application",
    "Input",
    "InputKind",
    "add_routes",
    "form_labels",
    "inputs_of",
]

InputKind = Literal[
    "text", "textarea", "number", "date", "bool", "choice", "contact", "rows", "image", "files"
]


@dataclass(frozen=True)
class Application:
    """One start page: its address segment, the business it starts and its form model."""

    slug: str
    business: str
    title: str
    model: type[BaseModel]


APPLICATIONS = {
    a.slug: a
    for a in (
        Application(
            "department-entry", flows.DEPARTMENT_ENTRY.key, "部门进驻备案", DepartmentEntry
        ),
        Application("department-exit", flows.DEPARTMENT_EXIT.key, "部门调离备案", DepartmentExit),
        Application("staff-entry", flows.STAFF_ENTRY.key, "人员入驻备案", StaffEntry),
        Application("staff-cancel", flows.STAFF_CANCEL.key, "人员取消备案", StaffChange),
        Application("staff-reinstate", flows.STAFF_REINSTATE.key, "人员复职审批", StaffChange),
    )
}

# the Chinese label of every form field, by its dotted path (item rows: `items.<field>`)
LABELS: Mapping[str, str] = {
    "name": "名称",
    "short_name": "部门简称",
    "number": "部门编号",
    "site_id": "进驻网点",
    "window_name": "窗口名称",
    "window_count": "窗口数量",
    "staff_count": "工作人员数量",
    "leaders.unit_leader": "单位分管领导",
    "leaders.window_head": "窗口负责人",
    "leaders.site_head": "现场负责人",
    "leaders.division_leader": "派驻科室分管领导",
    "leaders.section_head": "派驻科室负责人",
    "items": "进驻业务事项",
    "items.name": "业务名称",
    "items.type": "业务类型",
    "items.service_object": "服务对象",
    "items.time_limit": "承诺时限",
    "items.fees": "收费标准",
    "unit_id": "窗口单位",
    "date": "日期",
    "remark": "备注",
    "gender": "性别",
    "birth_date": "出生日期",
    "political_status": "政治面貌",
    "photo": "照片",
    "floor": "楼层",
    "work_number": "工作证号",
    "department": "隶属部门",
    "post": "职务",
    "mobile": "移动电话",
    "email": "电子邮箱",
    "stationed_post": "派驻职务",
    "stationed_status": "派驻状态",
    "category": "人员类别",
    "hall": "所在办事厅",
    "window": "所在窗口",
    "shuttle": "是否接送上下班（联办中心统一班车）",
    "canteen": "是否在联办中心用餐",
    "business_scope": "业务范围",
    "username": "登录账号",
    "entered_on": "入驻时间",
    "staff_id": "人员",
    "attachments": "告知书和承诺书",
}
# labels that differ by form
_FORM_LABELS: Mapping[str, Mapping[str, str]] = {
    "department-entry": {"name": "进驻部门名称"},
    "department-exit": {"date": "调离时间"},
    "staff-entry": {"name": "姓名", "unit_id": "派驻单位", "photo": "1寸彩色照片"},
    "staff-cancel": {"date": "取消备案时间"},
    "staff-reinstate": {"date": "复职时间"},
}
# fields that hold upload ids: one image, or one file or more
_UPLOADS: Mapping[str, InputKind] = {"photo": "image", "attachments": "files"}
# the file input of an upload field (its kept ids are posted under the field's own name)
FILE_SUFFIX = "__file"
_CONTACT = (("name", "姓名"), ("phone", "联系电话"))


@dataclass(frozen=True)
class Input:
    """One input of a start page: a field, a contact (name and phone) or a group of rows."""

    name: str  # the dotted path of the form's field
    label: str
    kind: InputKind
    required: bool = False
    options: tuple[tuple[str, str], ...] = ()
    columns: tuple[Input, ...] = field(default_factory=tuple)  # rows: one row's inputs


def add_routes(app: web.Application) -> None:
    for slug in APPLICATIONS:
        app.router.add_get(f"/portal/onboarding/{slug}", page(_form_page(slug)))
        app.router.add_post(f"/portal/onboarding/{slug}", page(_submit(slug)))
    app.router.add_get("/portal/onboarding/departments", page(_to(STATIONED_DEPARTMENT.name)))
    app.router.add_get("/portal/onboarding/staff", page(_to(STAFF_ARCHIVE.name)))


def form_labels(business: str) -> Mapping[str, str]:
    """The Chinese labels of the form fields of a business's instances (dotted paths for
    nested ones); the common labels for a business without a start page here."""
    for application in APPLICATIONS.values():
        if application.business == business:
            return {**LABELS, **_FORM_LABELS.get(application.slug, {})}
    return LABELS


def inputs_of(slug: str) -> tuple[Input, ...]:
    """The inputs of a start page from its form model, in the model's order."""
    application = APPLICATIONS[slug]
    labels = {**LABELS, **_FORM_LABELS.get(slug, {})}
    return tuple(_inputs(application.model, "", labels))


# ---------------------------------------------------------------------------- pages


def _form_page(slug: str) -> Any:
    async def serve(request: web.Request, me: Principal) -> web.StreamResponse:
        authorize(me, flows.APPLY)
        return await _show(request, me, slug, {}, FormErrors())

    return serve


def _submit(slug: str) -> Any:
    application = APPLICATIONS[slug]

    async def serve(request: web.Request, me: Principal) -> web.StreamResponse:
        authorize(me, flows.APPLY)
        posted = await request.post()
        inputs = inputs_of(slug)
        body, kept = _body(inputs, posted)
        errors = FormErrors()
        try:
            application.model.model_validate(body)
        except ValidationError as exc:
            for error in exc.errors():
                errors.add(_path(error["loc"], kept), _message(error))
        if not errors:
            received = await _receive(request, inputs, posted, errors)
            if not errors and received:
                async with request.app[ENGINE].begin() as conn:
                    for name, files in received.items():
                        made = [
                            (await record_upload(conn, me, origin(request, me), f)).id
                            for f in files
                        ]
                        body[name] = made[0] if name == "photo" else [*body.get(name, []), *made]
        if not errors:
            try:
                started = await workflow.start(
                    request.app[ENGINE],
                    me,
                    business_key=application.business,
                    form=body,
                    now_ms=now_ms(),
                    origin=origin(request, me),
                )
            except ApiError as exc:
                if exc.status in (401, 403):
                    raise
                _place(exc, errors, {**LABELS, **_FORM_LABELS.get(slug, {})})
            else:
                return redirect(f"/portal/work/i/{started['id']}", "started")
        echo = {k: v for k, v in posted.items() if isinstance(v, str) and k not in _UPLOADS}
        held = {k: v if isinstance(v, list) else [v] for k, v in body.items() if k in _UPLOADS}
        return await _show(request, me, slug, echo, errors, status=422, held=held)

    return serve


def _to(resource: str) -> Any:
    async def serve(request: web.Request, me: Principal) -> web.StreamResponse:
        target = f"/portal/r/{resource}"
        if request.query_string:
            target += f"?{request.query_string}"
        raise web.HTTPFound(target)

    return serve


async def _show(
    request: web.Request,
    me: Principal,
    slug: str,
    values: Mapping[str, str],
    errors: FormErrors,
    *,
    status: int = 200,
    held: Mapping[str, list[str]] | None = None,
) -> web.Response:
    held = held or {}
    async with request.app[ENGINE].connect() as conn:
        inputs = await _with_options(conn, me, slug, inputs_of(slug))
        known = await describe_uploads(conn, (i for ids in held.values() for i in ids))
    # only the applicant's own uploads are shown again (a guessed id reveals nothing)
    files = {
        name: [known[i] for i in ids if i in known and known[i].uploaded_by == me.id]
        for name, ids in held.items()
    }
    rows = _row_numbers(values)
    return await render(
        request,
        "onboarding_form.html",
        me,
        status=status,
        application=APPLICATIONS[slug],
        inputs=inputs,
        values=values,
        errors=errors.by_field,
        contact=_CONTACT,
        rows=rows,
        files=files,
        file_suffix=FILE_SUFFIX,
        multipart=any(i.kind in ("image", "files") for i in inputs),
    )


# ---------------------------------------------------------------------------- helpers


def _inputs(model: type[BaseModel], prefix: str, labels: Mapping[str, str]) -> list[Input]:
    found: list[Input] = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        if not prefix and name in _UPLOADS:
            found.append(Input(path, labels.get(path, name), _UPLOADS[name]))
            continue
        key = path if not prefix.startswith("items.") else f"items.{name}"
        label = labels.get(key, name)
        kind, options, nested = _kind(info.annotation)
        if nested is not None and kind == "text":
            found.extend(_inputs(nested, f"{path}.", labels))
            continue
        if kind == "rows":
            assert nested is not None
            columns = tuple(_inputs(nested, "items.", labels))
            found.append(Input(path, label, "rows", columns=columns))
            continue
        found.append(Input(path, label, kind, info.is_required(), options))
    if model.__name__ == "Contact":
        base = prefix.rstrip(".")
        return [Input(base, labels.get(base, base), "contact")]
    return found


def _kind(
    annotation: Any,
) -> tuple[InputKind, tuple[tuple[str, str], ...], type[BaseModel] | None]:
    """What input a field's type asks for: (kind, options, nested model)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (Union, types.UnionType) and len(args) == 1:
        annotation = args[0]
    origin = typing.get_origin(annotation)
    if origin is Literal:
        values = typing.get_args(annotation)
        return "choice", tuple((str(v), str(v)) for v in values), None
    if origin is list:
        (item,) = typing.get_args(annotation)
        return "rows", (), item
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "text", (), annotation
    if annotation is bool:
        return "bool", (), None
    if annotation is int:
        return "number", (), None
    if annotation is dt.date:
        return "date", (), None
    return "text", (), None


async def _with_options(
    conn: AsyncConnection, me: Principal, slug: str, inputs: tuple[Input, ...]
) -> tuple[Input, ...]:
    """The inputs whose values are ids, as choices of what the user may pick."""
    chosen: dict[str, tuple[tuple[str, str], ...]] = {}
    if slug == "department-entry":
        rows = await conn.execute(
            sa.select(org_units.c.id, org_units.c.name)
            .where(org_units.c.kind.in_(("site", "region")), org_units.c.disabled.is_(False))
            .order_by(org_units.c.name)
        )
        chosen["site_id"] = tuple((r.id, r.name) for r in rows)
    elif slug in ("department-exit", "staff-entry"):
        rows = await conn.execute(
            sa.select(stationed_departments.c.id, stationed_departments.c.unit_id)
            .add_columns(stationed_departments.c.name)
            .where(stationed_departments.c.status == "stationed")
            .order_by(stationed_departments.c.name)
        )
        key = "id" if slug == "staff-entry" else "unit_id"
        chosen["unit_id"] = tuple((getattr(r, key), r.name) for r in rows)
    else:
        expected = "active" if slug == "staff-cancel" else "cancelled"
        permission = STAFF_ARCHIVE.permission("view")
        where = scope_clause(
            me, permission, department=staff.c.department_id, owner=staff.c.created_by
        )
        rows = await conn.execute(
            sa.select(staff.c.id, staff.c.name, staff.c.work_number)
            .where(staff.c.status == expected, where)
            .order_by(staff.c.name)
            .limit(500)
        )
        chosen["staff_id"] = tuple(
            (r.id, f"{r.name}（{r.work_number}）" if r.work_number else r.name) for r in rows
        )
    return tuple(
        Input(i.name, i.label, "choice", i.required, chosen[i.name], i.columns)
        if i.name in chosen
        else i
        for i in inputs
    )


def _body(
    inputs: tuple[Input, ...], posted: MultiDictProxy[Any]
) -> tuple[dict[str, Any], list[int]]:
    """The form model's JSON from the posted texts (empty texts left out, a contact without a
    name or phone left out, item rows in their order without the empty ones), and the posted
    numbers of the rows kept."""
    body: dict[str, Any] = {}
    kept: list[int] = []
    for spec in inputs:
        if spec.kind == "rows":
            body[spec.name], kept = _rows(spec, posted)
            continue
        if spec.kind == "image":
            if photo := _text(posted, spec.name):
                body[spec.name] = photo
            continue
        if spec.kind == "files":
            if ids := [i.strip() for i in form_list(posted, spec.name) if i.strip()]:
                body[spec.name] = list(dict.fromkeys(ids))
            continue
        if spec.kind == "contact":
            name, phone = (_text(posted, f"{spec.name}.{part}") for part, _ in _CONTACT)
            if name or phone:
                _place_in(body, spec.name, {"name": name, "phone": phone or None})
            continue
        if spec.kind == "bool":
            _place_in(body, spec.name, _text(posted, spec.name) == "true")
            continue
        value = _text(posted, spec.name)
        if value:
            _place_in(body, spec.name, value)
    return body, kept


async def _receive(
    request: web.Request, inputs: tuple[Input, ...], posted: MultiDictProxy[Any], errors: FormErrors
) -> dict[str, list[Received]]:
    """The files chosen in the upload inputs, checked by content and size and stored (not yet
    recorded); a refused one's reason goes next to its input, and then none is kept."""
    received: dict[str, list[Received]] = {}
    for spec in inputs:
        if spec.kind not in ("image", "files"):
            continue
        chosen = [
            f
            for f in posted.getall(spec.name + FILE_SUFFIX, [])
            if isinstance(f, web.FileField) and f.filename
        ]
        for file in chosen[:1] if spec.kind == "image" else chosen:
            try:
                got = await receive_field(request.app[CONFIG], file)
            except ApiError as exc:
                errors.add(spec.name, f"{file.filename}：{exc.message}")
                break
            received.setdefault(spec.name, []).append(got)
            allowed = IMAGE_TYPES if spec.kind == "image" else flows.ATTACHMENT_TYPES
            if got.type not in allowed:
                errors.add(spec.name, f"{file.filename}：只能是 {'、'.join(sorted(allowed))} 文件")
                break
    if errors:
        discard(f for files in received.values() for f in files)
        return {}
    return received


async def _staff_attachments(conn: AsyncConnection, staff_id: str) -> list[UploadInfo]:
    """A staff record's signed documents, in the order they were attached."""
    ids = list(
        await conn.scalars(
            sa.select(staff_attachments.c.upload_id)
            .where(staff_attachments.c.staff_id == staff_id)
            .order_by(staff_attachments.c.sort, staff_attachments.c.upload_id)
        )
    )
    known = await describe_uploads(conn, ids)
    return [known[i] for i in ids if i in known]


show_attached(
    STAFF_ARCHIVE.name,
    Attached(
        "告知书和承诺书",
        _staff_attachments,
        add=attach_documents,
        remove=detach_documents,
        types=ATTACHMENT_TYPES,
    ),
)


def _rows(spec: Input, posted: MultiDictProxy[Any]) -> tuple[list[dict[str, Any]], list[int]]:
    rows: list[dict[str, Any]] = []
    kept: list[int] = []
    for number in _row_numbers(posted):
        row = {
            c.name.removeprefix("items."): _text(posted, f"items.{number}.{c.name[6:]}")
            for c in spec.columns
        }
        if any(row.values()):
            rows.append({k: v or None for k, v in row.items()})
            kept.append(number)
    return rows, kept


def _row_numbers(values: Mapping[str, Any]) -> list[int]:
    """The item rows present in a posted form, in order (removed rows leave gaps)."""
    found: set[int] = set()
    for key in values:
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "items" and parts[1].isdigit() and len(parts[1]) < 4:
            found.add(int(parts[1]))
    return sorted(found)


def _place_in(body: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    here = body
    for part in parents:
        here = here.setdefault(part, {})
    here[last] = value


def _text(posted: Mapping[str, Any], name: str) -> str:
    value = posted.get(name)
    return value.strip()[:5000] if isinstance(value, str) else ""


def _path(loc: tuple[int | str, ...], kept: list[int]) -> str:
    """Where a model's error is, as the input's name; an item row's by its posted number."""
    parts = [str(p) for p in loc]
    if len(loc) > 1 and loc[0] == "items" and isinstance(loc[1], int) and loc[1] < len(kept):
        parts[1] = str(kept[loc[1]])
    return ".".join(parts)


_MESSAGES = {
    "missing": "不能为空",
    "string_too_short": "不能为空",
    "string_pattern_mismatch": "格式不正确",
    "literal_error": "不是可选的值",
    "int_parsing": "应为整数",
    "date_from_datetime_parsing": "应为日期，如 2025-01-31",
    "date_parsing": "应为日期，如 2025-01-31",
    "bool_parsing": "应为是或否",
    "extra_forbidden": "不是该表单的内容",
}


def _message(error: Mapping[str, Any]) -> str:
    kind = str(error["type"])
    context = error.get("ctx") or {}
    if kind == "string_too_long":
        return f"不能超过 {context.get('max_length')} 个字"
    if kind == "too_long":
        return f"最多 {context.get('max_length')} 项"
    if kind in ("greater_than_equal", "greater_than"):
        return f"不能小于 {context.get('ge', context.get('gt'))}"
    if kind in ("less_than_equal", "less_than"):
        return f"不能大于 {context.get('le', context.get('lt'))}"
    return _MESSAGES.get(kind, "填写有误")


def _place(exc: ApiError, errors: FormErrors, labels: Mapping[str, str]) -> None:
    """A refusal of the workflow service: next to the field it names, else above the form."""
    detail = exc.message.split("：", 1)[1] if "：" in exc.message else ""
    where, _, what = detail.partition(": ")
    if what and where in labels:
        errors.add(where, what)
        return
    errors.add("", exc.message)
