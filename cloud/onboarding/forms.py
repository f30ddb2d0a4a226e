"""The onboarding forms (§21.1.1–21.1.6) as the applicant fills them in."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Contact",
    "DepartmentEntry",
    "DepartmentExit",
    "ServiceItemEntry",
    "StaffChange",
    "StaffEntry",
    "StaffLeaders",
    "StationLeaders",
]

_ID = Field(min_length=1, max_length=64)
_PHONE = r"^[0-9+\- ]{3,32}$"


class _Form(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Contact(_Form):
    """A person to call: name and phone."""

    name: str = Field(min_length=1, max_length=50)
    phone: str | None = Field(None, pattern=_PHONE)


class StationLeaders(_Form):
    """单位分管领导 / 窗口负责人 / 现场负责人."""

    unit_leader: Contact | None = None
    window_head: Contact | None = None
    site_head: Contact | None = None


class ServiceItemEntry(_Form):
    """进驻业务事项: name, type, service object, promised time limit, fees."""

    name: str = Field(min_length=1, max_length=200)
    type: str | None = Field(None, max_length=50)
    service_object: str | None = Field(None, max_length=100)
    time_limit: str | None = Field(None, max_length=50, description="承诺时限, e.g. 5个工作日")
    fees: str | None = Field(None, max_length=200, description="收费标准")


class DepartmentEntry(_Form):
    """部门进驻备案 (§21.1.1)."""

    name: str = Field(min_length=1, max_length=200)
    short_name: str | None = Field(None, max_length=100)
    number: str | None = Field(None, max_length=64, description="部门编号")
    site_id: str = Field(min_length=1, max_length=64, description="所进驻的网点或区域")
    window_name: str | None = Field(None, max_length=200)
    window_count: int = Field(0, ge=0, le=10_000)
    staff_count: int = Field(0, ge=0, le=100_000)
    leaders: StationLeaders = Field(default_factory=StationLeaders)
    items: list[ServiceItemEntry] = Field(default_factory=list, max_length=500)


class DepartmentExit(_Form):
    """部门调离备案 (§21.1.2)."""

    unit_id: str = _ID
    date: dt.date
    remark: str | None = Field(None, max_length=1000)


class StaffLeaders(_Form):
    """派驻科室分管领导 / 派驻科室负责人, each with their phone."""

    division_leader: Contact | None = None
    section_head: Contact | None = None


class StaffEntry(_Form):
    """人员入驻备案 (§21.1.4)."""

    unit_id: str = Field(min_length=1, max_length=64, description="派驻单位")
    name: str = Field(min_length=1, max_length=100)
    gender: Literal["男", "女"]
    birth_date: dt.date | None = None
    political_status: str | None = Field(None, max_length=32)
    photo: str | None = Field(
        None, max_length=64, description="1寸彩色照片 (an upload's id: jpg, bmp, png)"
    )
    floor: str | None = Field(None, max_length=32)
    work_number: str | None = Field(None, max_length=64, description="工作证号")
    department: str | None = Field(None, max_length=200, description="隶属部门")
    post: str | None = Field(None, max_length=100, description="职务")
    mobile: str | None = Field(None, pattern=_PHONE)
    email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+$", max_length=200)
    stationed_post: str | None = Field(None, max_length=100, description="派驻职务")
    stationed_status: str | None = Field(None, max_length=32, description="派驻状态")
    category: str | None = Field(None, max_length=32, description="人员类别")
    hall: str | None = Field(None, max_length=64, description="所在办事厅")
    window: str | None = Field(None, max_length=64, description="所在窗口")
    leaders: StaffLeaders = Field(default_factory=StaffLeaders)
    shuttle: bool = Field(False, description="是否接送上下班（联办中心统一班车）")
    canteen: bool = Field(False, description="是否在联办中心用餐")
    business_scope: str | None = Field(None, max_length=2000, description="业务范围")
    username: str = Field(pattern=r"^[A-Za-z0-9_.@-]{2,64}$", description="登录账号")
    entered_on: dt.date | None = Field(None, description="入驻时间")
    attachments: list[Annotated[str, _ID]] = Field(
        default_factory=list,
        max_length=20,
        description="告知书和承诺书, signed on paper and scanned (upload ids)",
    )


class StaffChange(_Form):
    """人员取消备案 (§21.1.5) and 人员复职 (§21.1.6): who, from when, a remark."""

    staff_id: str = _ID
    date: dt.date
    remark: str | None = Field(None, max_length=1000)
