"""The portal's pages of the workflow designer, supervision and the calendars (行事历).

- `/portal/flows`: the flows and, per flow, a step editor (§21.4.1–21.4.2); saving makes a new
  version (`cloud.workflow.flows`), running instances keep theirs.
- `/portal/work/supervise`: running instances in the supervisor's scope, longest waiting first,
  with 催办 and, for `workflow.manage`, 改派 (`cloud.workflow.lists` / `engine`).
- `/portal/calendar`: a hall's year (§3.11, §21.3.2) and its local exceptions, each with a
  reason (`cloud.calendars`, which also writes them into the hall's setup for the edge).

Every page calls the capability's service, which checks the rights itself; the calendar's
pages pass the same `guard` over the hall as its API.
"""

from __future__ import annotations

import calendar as monthly
import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from pydantic import ValidationError

from cloud.calendars import CalendarChange, calendar_halls, put_exception, remove_exception
from cloud.calendars import year_view as calendar_year
from cloud.calls import origin
from cloud.context import ENGINE
from cloud.errors import ApiError
from cloud.identity.guard import guard
from cloud.identity.principal import Principal, authorize, scope_clause
from cloud.identity.tables import org_units, roles, users
from cloud.portal.forms import FormErrors, form_text
from cloud.portal.render import SHANGHAI, now_ms, page, redirect, render
from cloud.workflow import engine as workflow
from cloud.workflow import flows, lists
from cloud.workflow.business import BUSINESSES
from cloud.workflow.tables import flows as flow_heads

__all__ = ["APPROVER_KINDS", "MODES", "ON_REJECT", "add_routes"]

APPROVER_KINDS = {
    "user": "指定用户",
    "role": "角色",
    "department_head": "申请人所在部门负责人",
    "unit_head": "指定机构负责人",
    "department_role": "申请人部门内的角色",
}
MODES = {"any": "任一人审批", "all": "会签（全部同意）"}
ON_REJECT = {"applicant": "退回申请人", "previous": "退回上一步", "end": "结束流程"}

_WEEKDAYS = ("一", "二", "三", "四", "五", "六", "日")
_PICKED = {"user": "user", "role": "role", "department_role": "role", "unit_head": "unit"}
_PICK_PROMPT = {"user": "请选择审批用户", "role": "请选择角色", "unit": "请选择机构"}
_CALENDAR_ACTIONS = ("holiday", "working", "remove")
_REASON_LENGTH = 200


def add_routes(app: web.Application) -> None:
    """Add these pages to the app."""
    app.router.add_get("/portal/flows", page(_flow_list))
    app.router.add_get("/portal/flows/new", page(_new_flow))
    app.router.add_post("/portal/flows/new", page(_create_flow))
    app.router.add_get("/portal/flows/{code}", page(_flow))
    app.router.add_post("/portal/flows/{code}", page(_save_flow))
    app.router.add_get("/portal/work/supervise", page(_supervise))
    app.router.add_post("/portal/work/supervise/{id}/urge", page(_urge))
    app.router.add_post("/portal/work/supervise/{id}/reassign", page(_reassign))
    app.router.add_get("/portal/calendar", page(_calendar))
    app.router.add_post("/portal/calendar/{hall}/{date}", page(_change_day))


# ---------------------------------------------------------------------------- flows


async def _flow_list(request: web.Request, me: Principal) -> web.StreamResponse:
    engine = request.app[ENGINE]
    found = await flows.flow_overview(engine, me)
    names = await _Names.load(request, (s for f in found for s in f["steps"]))
    for f in found:
        f["summary"] = [names.step_summary(s) for s in f["steps"]]
    return await render(request, "flows_list.html", me, flows=found)


async def _new_flow(request: web.Request, me: Principal) -> web.StreamResponse:
    authorize(me, flows.DESIGN)
    blank = {"code": "", "name": "", "business_key": "", "steps": [_blank_step()]}
    return await _editor(request, me, None, blank, FormErrors())


async def _create_flow(request: web.Request, me: Principal) -> web.StreamResponse:
    authorize(me, flows.DESIGN)
    form = await request.post()
    code = form_text(form, "code", 64)
    values, definition, errors = _read_definition(form, code)
    if definition is not None:
        try:
            await flows.create_flow(
                request.app[ENGINE], me, definition, now_ms=now_ms(), origin=origin(request, me)
            )
        except ApiError as exc:
            _refused(exc, errors)
        else:
            return redirect(f"/portal/flows/{definition.code}", "flow_created")
    return await _editor(request, me, None, values, errors, status=422)


async def _flow(request: web.Request, me: Principal) -> web.StreamResponse:
    version = request.query.get("version")
    if version is not None and (not version.isdigit() or not 1 <= int(version) <= 100_000):
        raise ApiError("invalid_request", "版本号无效")
    view = await flows.flow_detail(
        request.app[ENGINE], me, request.match_info["code"], int(version) if version else None
    )
    return await _editor(request, me, view, view, FormErrors())


async def _save_flow(request: web.Request, me: Principal) -> web.StreamResponse:
    engine = request.app[ENGINE]
    view = await flows.flow_detail(engine, me, request.match_info["code"])
    form = await request.post()
    values, definition, errors = _read_definition(form, view["code"])
    if definition is not None:
        try:
            await flows.update_flow(
                engine, me, definition, now_ms=now_ms(), origin=origin(request, me)
            )
        except ApiError as exc:
            _refused(exc, errors)
        else:
            return redirect(f"/portal/flows/{definition.code}", "flow_saved")
    return await _editor(request, me, view, values, errors, status=422)


async def _editor(
    request: web.Request,
    me: Principal,
    view: Mapping[str, Any] | None,
    values: Mapping[str, Any],
    errors: FormErrors,
    *,
    status: int = 200,
) -> web.Response:
    """The flow page: the editor (the newest version, or what was posted), or an older
    version read-only; the version history beside it."""
    engine = request.app[ENGINE]
    latest = view is None or view["shown_version"] == view["version"]
    names = await _Names.load(request, values["steps"], pickers=latest)
    steps = [names.step_summary(s) for s in values["steps"]] if not latest else []
    editor = {
        "steps": values["steps"],
        "errors": {k: v for k, v in errors.by_field.items() if k.startswith("step")},
    }
    async with engine.connect() as conn:
        businesses = list(await conn.execute(sa.select(flow_heads.c.business_key)))
    taken = {b.business_key for b in businesses}
    known = [{"key": k, "label": b.label, "taken": k in taken} for k, b in BUSINESSES.items()]
    return await render(
        request, "flows_edit.html", me, status=status, view=view, values=values, errors=errors,
        latest=latest, readonly_steps=steps, editor=editor, names=names, businesses=known,
        approver_kinds=APPROVER_KINDS, modes=MODES, on_reject=ON_REJECT,
    )  # fmt: skip


def _read_definition(
    form: Mapping[str, Any], code: str
) -> tuple[dict[str, Any], flows.FlowDefinition | None, FormErrors]:
    """The posted flow: the values to show again, the definition (None when it is wrong) and
    what is wrong, in Chinese, by field (`step<i>` for the i-th step)."""
    errors = FormErrors()
    try:
        posted = json.loads(form_text(form, "steps", 200_000) or "[]")
    except ValueError:
        posted = None
    if not isinstance(posted, list):
        errors.add("", "环节数据无效，请刷新页面后重试")
        posted = []
    steps = [_clean_step(s) for s in posted[:20] if isinstance(s, dict)]
    values = {
        "code": code,
        "name": form_text(form, "name", 100),
        "business_key": form_text(form, "business_key", 64),
        "steps": steps,
    }
    if not values["name"]:
        errors.add("name", "请填写流程名称")
    if not steps:
        errors.add("steps", "至少需要一个环节")
    if len(posted) > 20:
        errors.add("steps", "最多 20 个环节")
    for i, step in enumerate(steps):
        if not step["name"]:
            errors.add(f"step{i}", "请填写环节名称")
        if not step["approvers"]:
            errors.add(f"step{i}", "请至少添加一个审批人")
        for approver in step["approvers"]:
            picked = _PICKED.get(approver["type"])
            if picked is not None and not approver.get(picked):
                errors.add(f"step{i}", _PICK_PROMPT[picked])
    if errors:
        return values, None, errors
    try:
        definition = flows.FlowDefinition.model_validate(values)
    except ValidationError as exc:
        for problem in exc.errors():
            field, message = _problem(problem["loc"])
            errors.add(field, message)
        return values, None, errors
    return values, definition, errors


def _clean_step(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A posted step with only the fields a step has (the approver's picked value kept only
    for the kinds that need it)."""
    approvers = []
    for a in raw.get("approvers") or []:
        if not isinstance(a, dict):
            continue
        kind = str(a.get("type") or "")
        approver: dict[str, Any] = {"type": kind}
        picked = _PICKED.get(kind)
        if picked is not None:
            approver[picked] = str(a.get(picked) or "")[:64]
        approvers.append(approver)
    return {
        "name": str(raw.get("name") or "").strip()[:100],
        "mode": str(raw.get("mode") or "any"),
        "on_reject": str(raw.get("on_reject") or "applicant"),
        "approvers": approvers[:20],
    }


def _blank_step() -> dict[str, Any]:
    return {
        "name": "",
        "mode": "any",
        "on_reject": "applicant",
        "approvers": [{"type": "department_head"}],
    }


def _problem(loc: tuple[int | str, ...]) -> tuple[str, str]:
    """Where a definition's validation problem belongs and what to say (what the page's own
    checks did not already catch)."""
    first = loc[0] if loc else ""
    if first == "code":
        return "code", "流程编号只能用字母、数字、下划线、点和短横线（1–64 个字符）"
    if first == "business_key":
        return "business_key", "业务编号只能用字母、数字、下划线、点和短横线（1–64 个字符）"
    if first == "name":
        return "name", "流程名称须为 1–100 个字"
    if first == "steps" and len(loc) > 1:
        what = {"mode": "审批方式", "on_reject": "驳回后的去向", "approvers": "审批人"}
        part = str(loc[2]) if len(loc) > 2 else ""
        return f"step{loc[1]}", f"{what.get(part, '环节')}填写有误"
    return "", "流程定义有误"


def _refused(exc: ApiError, errors: FormErrors) -> None:
    """The engine's refusal of a definition, next to the field it is about."""
    field = {"flow_exists": "code", "business_key_taken": "business_key"}.get(exc.code, "")
    if exc.status >= 500 or exc.code in ("forbidden_operation", "unknown_flow"):
        raise exc
    errors.add(field, exc.message)


class _Names:
    """The names of the users, roles and org units the steps name, and the pickers' choices."""

    def __init__(
        self,
        users: list[dict[str, str]],
        roles: list[dict[str, str]],
        units: list[dict[str, str]],
    ) -> None:
        self.users, self.roles, self.units = users, roles, units
        self._user = {u["id"]: u["name"] for u in users}
        self._role = {r["code"]: r["name"] for r in roles}
        self._unit = {u["id"]: u["name"] for u in units}

    @classmethod
    async def load(
        cls, request: web.Request, steps: Iterable[Mapping[str, Any]], *, pickers: bool = False
    ) -> _Names:
        named = {a.get("user") for s in steps for a in s.get("approvers", []) if a.get("user")}
        async with request.app[ENGINE].connect() as conn:
            department = org_units.alias("department")
            who = (
                sa.select(users.c.id, users.c.name, users.c.username, department.c.name.label("d"))
                .join(department, department.c.id == users.c.department_id, isouter=True)
                .order_by(department.c.name, users.c.name)
            )
            wanted: sa.ColumnElement[bool] = users.c.id.in_(named)
            if pickers:
                wanted = sa.or_(wanted, users.c.status == "active")
            people = await conn.execute(who.where(wanted).limit(2000))
            kinds = await conn.execute(sa.select(roles.c.code, roles.c.name).order_by(roles.c.name))
            units = await conn.execute(
                sa.select(org_units.c.id, org_units.c.name)
                .where(org_units.c.disabled == sa.false())
                .order_by(org_units.c.sort, org_units.c.name)
            )
            return cls(
                [
                    {"id": p.id, "name": f"{p.name}（{p.d or '无部门'} · {p.username}）"}
                    for p in people
                ],
                [{"code": r.code, "name": r.name} for r in kinds],
                [{"id": u.id, "name": u.name} for u in units],
            )

    def approver(self, a: Mapping[str, Any]) -> str:
        kind = str(a.get("type", ""))
        if kind == "user":
            return f"用户 {self._user.get(a.get('user', ''), a.get('user', ''))}"
        if kind == "role":
            return f"角色「{self._role.get(a.get('role', ''), a.get('role', ''))}」"
        if kind == "unit_head":
            return f"{self._unit.get(a.get('unit', ''), a.get('unit', ''))}负责人"
        if kind == "department_role":
            return f"申请人部门内的「{self._role.get(a.get('role', ''), a.get('role', ''))}」"
        return APPROVER_KINDS.get(kind, kind)

    def step_summary(self, step: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "name": step.get("name", ""),
            "approvers": "、".join(self.approver(a) for a in step.get("approvers", [])),
            "mode": MODES.get(step.get("mode", "any"), ""),
            "on_reject": ON_REJECT.get(step.get("on_reject", "applicant"), ""),
        }


# ---------------------------------------------------------------------------- supervision


async def _supervise(request: web.Request, me: Principal) -> web.StreamResponse:
    number = request.query.get("page", "1")
    if not number.isdigit() or not 1 <= int(number) <= 1_000_000:
        raise ApiError("invalid_request", "页码无效")
    engine = request.app[ENGINE]
    found = await lists.supervise(engine, me, lists.Page(int(number), 20), now_ms=now_ms())
    managing = me.can(flows.MANAGE)
    async with engine.connect() as conn:
        names = {r.business_key: r.name for r in await conn.execute(sa.select(flow_heads))}
        people: list[Any] = []
        if managing and found["items"]:
            people = list(
                await conn.execute(
                    sa.select(users.c.id, users.c.name, users.c.username)
                    .where(
                        users.c.status == "active",
                        scope_clause(
                            me, flows.MANAGE, department=users.c.department_id, owner=users.c.id
                        ),
                    )
                    .order_by(users.c.name)
                    .limit(500)
                )
            )
    for item in found["items"]:
        business = BUSINESSES.get(item["business_key"])
        item["business"] = business.label if business else names.get(item["business_key"], "")
        item["waited"] = _duration(item["waited_ms"])
        days = item["waited_ms"] // 86_400_000
        item["late"] = 2 if days >= 3 else 1 if days >= 1 else 0
    return await render(
        request, "flows_supervise.html", me, found=found, managing=managing, people=people,
        pages=max(1, -(-found["total"] // found["size"])),
    )  # fmt: skip


async def _urge(request: web.Request, me: Principal) -> web.StreamResponse:
    form = await request.post()
    await workflow.urge(
        request.app[ENGINE], me, request.match_info["id"],
        comment=form_text(form, "comment") or "督办催办", now_ms=now_ms(),
        origin=origin(request, me),
    )  # fmt: skip
    return redirect(_back(form), "urged")


async def _reassign(request: web.Request, me: Principal) -> web.StreamResponse:
    form = await request.post()
    task_id, to_user = form_text(form, "task_id", 64), form_text(form, "to_user", 64)
    if not task_id or not to_user:
        raise ApiError("invalid_request", "请选择要改派的审批人和改派给谁")
    view = await lists.instance_view(
        request.app[ENGINE], me, request.match_info["id"], now_ms=now_ms()
    )
    if task_id not in {a["task_id"] for a in view["current_approvers"]}:
        raise ApiError("unknown_task", task_id)
    await workflow.delegate(
        request.app[ENGINE], me, task_id, to_user=to_user,
        comment=form_text(form, "comment") or "督办改派", now_ms=now_ms(),
        origin=origin(request, me),
    )  # fmt: skip
    return redirect(_back(form), "reassigned")


def _back(form: Mapping[str, Any]) -> str:
    number = form_text(form, "page", 8)
    return f"/portal/work/supervise?page={number}" if number.isdigit() else "/portal/work/supervise"


def _duration(ms: int) -> str:
    minutes = max(0, ms) // 60_000
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} 天 {hours} 小时"
    if hours:
        return f"{hours} 小时 {minutes} 分"
    return f"{minutes} 分钟" if minutes else "不到 1 分钟"


# ---------------------------------------------------------------------------- calendars


async def _calendar(request: web.Request, me: Principal) -> web.StreamResponse:
    return await _calendar_page(request, me, request.query.get("hall"), request.query.get("year"))


async def _change_day(request: web.Request, me: Principal) -> web.StreamResponse:
    hall, text = request.match_info["hall"], request.match_info["date"]
    _, origin = await guard(request, "calendar.edit", hall)
    try:
        date = dt.date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        date = None
    if date is None:
        raise ApiError("invalid_request", f"日期 {text[:20]} 无效")
    form = await request.post()
    action, reason = form_text(form, "action", 16), form_text(form, "reason", 1000)
    errors = FormErrors()
    if action not in _CALENDAR_ACTIONS:
        errors.add("action", "请选择要做的调整")
    if not reason:
        errors.add("reason", "请填写原因：行事历的每次调整都须说明原因")
    elif len(reason) > _REASON_LENGTH:
        errors.add("reason", f"原因不能超过 {_REASON_LENGTH} 个字")
    if not errors:
        engine, by = request.app[ENGINE], me.username
        try:
            if action == "remove":
                await remove_exception(engine, hall, date, by, now_ms(), origin.with_reason(reason))
            else:
                change = CalendarChange(working=action == "working", reason=reason)
                await put_exception(engine, hall, date, change, by, now_ms(), origin)
        except ApiError as exc:
            if exc.status >= 500 or exc.code in ("forbidden", "forbidden_operation"):
                raise
            errors.add("reason" if exc.code == "reason_required" else "action", exc.message)
        else:
            return redirect(f"/portal/calendar?hall={hall}&year={date.year}", "calendar_saved")
    picked = {"date": date.isoformat(), "action": action, "reason": reason}
    return await _calendar_page(
        request, me, hall, str(date.year), picked=picked, errors=errors, status=422
    )


async def _calendar_page(
    request: web.Request,
    me: Principal,
    hall: str | None,
    year_text: str | None,
    *,
    picked: Mapping[str, str] | None = None,
    errors: FormErrors | None = None,
    status: int = 200,
) -> web.Response:
    engine = request.app[ENGINE]
    choices = await calendar_halls(engine, me)
    today = dt.datetime.now(SHANGHAI).date()
    year = today.year
    if year_text:
        if not year_text.isdigit() or not 1900 <= int(year_text) <= 2200:
            raise ApiError("invalid_request", "年份应在 1900–2200 之间")
        year = int(year_text)
    hall = hall or (choices[0]["id"] if choices else None)
    view: dict[str, Any] | None = None
    editable = False
    if hall is not None:
        await guard(request, "calendar.read", hall)
        view = await calendar_year(engine, hall, year)
        try:
            await guard(request, "calendar.edit", hall)
            editable = True
        except ApiError:
            editable = False
    months = _months(view["days"], today) if view else []
    shown = dict(picked or {})
    if shown and view is not None:
        # the day the form was about, opened again with what was entered
        day = next((d for d in view["days"] if d["date"] == shown["date"]), None)
        if day is not None:
            shown |= {"kind": day["kind"], "working": day["working"], "label": _label(day)}
    return await render(
        request, "calendar_year.html", me, status=status, halls=choices, hall=hall, year=year,
        view=view, months=months, weekdays=_WEEKDAYS, editable=editable,
        picked=shown, errors=errors or FormErrors(),
    )  # fmt: skip


def _months(days: list[dict[str, Any]], today: dt.date) -> list[dict[str, Any]]:
    """The year as 12 Monday-first month grids (weeks of 7 cells, None outside the month),
    each with the runs of its named days (holidays, adjusted working days, local ones)."""
    by_date = {d["date"]: d for d in days}
    year = int(days[0]["date"][:4])
    grids = monthly.Calendar(firstweekday=0)
    months = []
    for month in range(1, 13):
        weeks: list[list[dict[str, Any] | None]] = []
        for week in grids.monthdatescalendar(year, month):
            cells: list[dict[str, Any] | None] = []
            for date in week:
                if date.month != month:
                    cells.append(None)
                    continue
                day = dict(by_date[date.isoformat()])
                day["number"] = date.day
                day["today"] = date == today
                day["label"] = _label(day)
                cells.append(day)
            weeks.append(cells)
        months.append({"month": month, "weeks": weeks, "notes": _runs(weeks)})
    return months


def _label(day: Mapping[str, Any]) -> str:
    """A date as the page names it: "2025-10-01 星期三 · 国庆节 · 休息"."""
    weekday = _WEEKDAYS[dt.date.fromisoformat(day["date"]).weekday()]
    named = f"{day['name']} · " if day["name"] else ""
    return f"{day['date']} 星期{weekday} · {named}{'上班' if day['working'] else '休息'}"


def _runs(weeks: list[list[dict[str, Any] | None]]) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    for day in (d for week in weeks for d in week if d is not None):
        if day["kind"] not in ("holiday", "adjusted_workday", "local"):
            continue
        last = runs[-1] if runs else None
        key = (day["kind"], day["name"], day["working"])
        if last is not None and last["key"] == key and last["last"] == day["number"] - 1:
            last["last"] = day["number"]
        else:
            runs.append({"key": key, "kind": day["kind"], "name": day["name"],
                         "working": day["working"], "first": day["number"],
                         "last": day["number"]})  # fmt: skip
    return runs
