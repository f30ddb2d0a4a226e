"""The work table's pages (工作台, §7.1.6, §8.1, §21.4): my to-dos, the instances I take part
in and the finished ones, and one instance with its form, history and current approvers, where
the approver approves or rejects with an opinion, delegates, and the applicant withdraws or
urges. Every action is the workflow service's, which checks who may do it."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from aiohttp import web

from cloud.calls import origin
from cloud.context import ENGINE
from cloud.errors import ApiError
from cloud.identity.principal import Principal
from cloud.identity.tables import users
from cloud.portal.forms import form_text
from cloud.portal.onboarding import form_labels
from cloud.portal.render import now_ms, page, redirect, render
from cloud.uploads import describe_uploads
from cloud.workflow import engine as workflow
from cloud.workflow import lists

__all__ = ["LISTS", "add_routes"]

# the three lists of the work table: (title, the service's list)
LISTS = {
    "todo": ("待办件", lists.todo),
    "involved": ("参与件", lists.involved),
    "done": ("已办件", lists.done),
}
# the form fields that hold upload ids (the staff entry's photo and signed documents)
_FILE_FIELDS = ("photo", "attachments")
_ACTIONS = {
    "start": "提交",
    "resubmit": "重新提交",
    "approve": "同意",
    "reject": "驳回",
    "delegate": "转交",
    "reassign": "改派",
    "withdraw": "撤回",
    "urge": "催办",
}


def add_routes(app: web.Application) -> None:
    # the menu entries of these pages are the workflow's (cloud/workflow/menu.py)
    for key in LISTS:
        app.router.add_get(f"/portal/work/{key}", page(_list_page(key)))
    app.router.add_get("/portal/work/i/{id}", page(_instance))
    app.router.add_post("/portal/work/i/{id}/act", page(_act))
    app.router.add_post("/portal/work/i/{id}/delegate", page(_delegate))
    app.router.add_post("/portal/work/i/{id}/withdraw", page(_withdraw))
    app.router.add_post("/portal/work/i/{id}/urge", page(_urge))


def _list_page(key: str) -> Any:
    title, service = LISTS[key]

    async def serve(request: web.Request, me: Principal) -> web.StreamResponse:
        number = request.query.get("page", "1")
        if not number.isdigit() or not 1 <= int(number) <= 1_000_000:
            raise ApiError("invalid_request", "页码无效")
        found = await service(request.app[ENGINE], me, lists.Page(int(number), 20))
        return await render(
            request, "work_list.html", me, key=key, title=title, found=found,
            pages=max(1, -(-found["total"] // found["size"])),
        )  # fmt: skip

    return serve


async def _instance(request: web.Request, me: Principal) -> web.StreamResponse:
    engine = request.app[ENGINE]
    view = await lists.instance_view(engine, me, request.match_info["id"], now_ms=now_ms())
    # who the approver may hand the task to: the active users of their own department
    colleagues: list[Any] = []
    if view["my_tasks"] and me.department_id is not None:
        async with engine.connect() as conn:
            colleagues = list(
                await conn.execute(
                    sa.select(users.c.id, users.c.name)
                    .where(
                        users.c.department_id == me.department_id,
                        users.c.status == "active",
                        users.c.id != me.id,
                    )
                    .order_by(users.c.name)
                    .limit(200)
                )
            )
    async with engine.connect() as conn:
        files = await describe_uploads(conn, _upload_ids(view["form"]))
    return await render(
        request,
        "work_instance.html",
        me,
        view=view,
        actions=_ACTIONS,
        colleagues=colleagues,
        labels=form_labels(view["business_key"]),
        files=files,
    )


async def _act(request: web.Request, me: Principal) -> web.StreamResponse:
    form = await request.post()
    decision = form_text(form, "decision")
    if decision not in ("approve", "reject"):
        raise ApiError("invalid_request", "请选择同意或驳回")
    await workflow.act(
        request.app[ENGINE], me, form_text(form, "task_id", 64),
        decision="approve" if decision == "approve" else "reject",
        comment=form_text(form, "comment") or None, now_ms=now_ms(), origin=origin(request, me),
    )  # fmt: skip
    return redirect(_back(request), "approved" if decision == "approve" else "rejected")


async def _delegate(request: web.Request, me: Principal) -> web.StreamResponse:
    form = await request.post()
    await workflow.delegate(
        request.app[ENGINE], me, form_text(form, "task_id", 64),
        to_user=form_text(form, "to_user", 64), comment=form_text(form, "comment") or None,
        now_ms=now_ms(), origin=origin(request, me),
    )  # fmt: skip
    return redirect("/portal/work/todo", "delegated")


async def _withdraw(request: web.Request, me: Principal) -> web.StreamResponse:
    form = await request.post()
    await workflow.withdraw(
        request.app[ENGINE], me, request.match_info["id"],
        comment=form_text(form, "comment") or None, now_ms=now_ms(), origin=origin(request, me),
    )  # fmt: skip
    return redirect(_back(request), "withdrawn")


async def _urge(request: web.Request, me: Principal) -> web.StreamResponse:
    form = await request.post()
    await workflow.urge(
        request.app[ENGINE], me, request.match_info["id"],
        comment=form_text(form, "comment") or None, now_ms=now_ms(), origin=origin(request, me),
    )  # fmt: skip
    return redirect(_back(request), "urged")


# ---------------------------------------------------------------------------- helpers


def _back(request: web.Request) -> str:
    return f"/portal/work/i/{request.match_info['id']}"


def _upload_ids(form: dict[str, Any]) -> list[str]:
    """The ids of the files a form carries (a photo, attached documents): shown as links to
    whoever may see the instance (cloud/uploads.py decides who may download)."""
    ids: list[str] = []
    for key in _FILE_FIELDS:
        value = form.get(key)
        if isinstance(value, str):
            ids.append(value)
        elif isinstance(value, list):
            ids.extend(v for v in value if isinstance(v, str))
    return ids
