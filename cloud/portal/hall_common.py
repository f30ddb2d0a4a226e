"""What every page of a hall's configuration shares: the hall's context (its name, the tabs,
the user's rights over it), where a service's refusal goes, and the origin of a change."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.errors import ApiError
from cloud.hallconfig.access import check_hall
from cloud.hallconfig.settings import read_settings
from cloud.identity.principal import Principal
from cloud.portal.forms import FormErrors
from cloud.portal.hall_forms import FormField, contract_errors, place_refusal

__all__ = ["RIGHTS", "TABS", "checked", "hall_context", "refused"]

# the tabs of a hall's page: (key, title, address below /portal/halls/{hall})
TABS = (
    ("settings", "基本设置", ""),
    ("areas", "叫号区域", "/areas"),
    ("categories", "业务分类", "/categories"),
    ("windows", "窗口", "/windows"),
    ("staff", "工作人员", "/staff"),
    ("voice", "语音", "/voice"),
    ("preview", "预览与发布", "/preview"),
)
RIGHTS = ("view", "read", "create", "edit", "delete", "publish", "import")


async def hall_context(conn: AsyncConnection, me: Principal, hall: str, tab: str) -> dict[str, Any]:
    """What every tab of a hall shows: the hall's name, the tabs, and the user's rights over
    this hall (the buttons follow them; the services check them again)."""
    settings = await read_settings(conn, hall)
    can: dict[str, bool] = {}
    for right in RIGHTS:
        try:
            await check_hall(conn, me, hall, right)
            can[right] = True
        except ApiError:
            can[right] = False
    return {
        "hall": {"id": hall, "name": settings["name"]},
        "tabs": TABS,
        "tab": tab,
        "can": can,
    }


def refused(fields: tuple[FormField, ...], exc: ApiError, errors: FormErrors) -> None:
    """A service's refusal of a form's content next to its field; refusals of the call itself
    (no right, no such hall or piece) are the page's."""
    if exc.status in (403, 404):
        raise exc
    place_refusal(fields, exc, errors)


def checked(model: type[BaseModel], fields: tuple[FormField, ...], body: Any) -> FormErrors:
    """What the contract's model refuses in `body`, by field."""
    try:
        model.model_validate(body)
    except ValidationError as exc:
        return contract_errors(fields, exc, body)
    return FormErrors()
