"""The demo hall: 2 calling areas, 3 categories, 8 business types, 10 windows, 12 staff."""

from __future__ import annotations

import datetime as dt

from sync.hallsetup import (
    Booking,
    BusinessCategory,
    BusinessType,
    CallingArea,
    HallInfo,
    HallSetup,
    StaffMember,
    TimeRange,
    Window,
)

__all__ = ["DEMO_PASSWORD", "demo_bookings", "demo_setup"]

DEMO_PASSWORD = "demo1234"

_ALL_DAY = [TimeRange(start=dt.time(0, 0), end=dt.time(23, 59))]

_TYPES = [
    # id, category, name, prefix, department, pinyin, description
    ("biz-reg", "commerce", "企业设立登记", "A", "市场监管局", "qysldj", "新办企业营业执照"),
    (
        "biz-change",
        "commerce",
        "企业变更登记",
        "B",
        "市场监管局",
        "qybgdj",
        "名称、地址、法人等变更",
    ),
    ("tax-invoice", "commerce", "发票领用", "C", "税务局", "fply", "领用、代开增值税发票"),
    ("ss-card", "social", "社保卡办理", "D", "人社局", "sbkbl", "社会保障卡申领、补换"),
    ("ss-pension", "social", "养老保险业务", "E", "人社局", "ylbxyw", "参保登记、转移接续"),
    ("medical", "social", "医保业务", "F", "医保局", "ybyw", "医保登记、异地就医备案"),
    ("housing-fund", "life", "公积金业务", "G", "公积金中心", "gjjyw", "缴存、提取、贷款咨询"),
    ("residence", "life", "户籍业务", "H", "公安局", "hjyw", "户口迁移、居住证"),
]


def demo_setup(password_hash: str, *, version: int = 1, all_day: bool = True) -> HallSetup:
    """The demo hall's configuration; `all_day` opens it around the clock so it can be tried now."""
    hours = (
        _ALL_DAY
        if all_day
        else HallInfo.model_fields["hours"].get_default(call_default_factory=True)
    )
    hall = HallInfo(
        id="demo-hall",
        name="示范区政务服务中心",
        unit_name="示范区行政审批局",
        hours=hours,
        working_weekdays=[1, 2, 3, 4, 5, 6, 7] if all_day else [1, 2, 3, 4, 5],
        auto_call_seconds=0,
    )
    categories = [
        BusinessCategory(id="commerce", name="商事登记", waiting_warning=30),
        BusinessCategory(id="social", name="社会保障", waiting_warning=30),
        BusinessCategory(id="life", name="民生服务", waiting_warning=20),
    ]
    types = [
        BusinessType(
            id=i,
            category=c,
            name=n,
            prefix=p,
            department=d,
            pinyin=py,
            description=desc,
            hint="请留意叫号屏及语音提示",
            instructions="请携带本人身份证原件",
            daily_cap=300,
            duration_warning_seconds=1800,
        )
        for i, c, n, p, d, py, desc in _TYPES
    ]
    areas = [CallingArea(id="east", name="东区(一楼)"), CallingArea(id="west", name="西区(二楼)")]
    window_types = {
        1: ["biz-reg", "biz-change"],
        2: ["biz-change", "biz-reg"],
        3: ["tax-invoice", "biz-reg"],
        4: ["tax-invoice"],
        5: ["biz-reg", "biz-change", "tax-invoice"],
        6: ["ss-card", "ss-pension"],
        7: ["ss-pension", "ss-card"],
        8: ["medical", "ss-card"],
        9: ["housing-fund", "residence"],
        10: ["residence", "housing-fund", "medical"],
    }
    windows = [
        Window(
            id=f"w{n:02d}",
            area="east" if n <= 5 else "west",
            number=str(n),
            name=f"{n}号窗口",
            business_types=served,
        )
        for n, served in window_types.items()
    ]
    names = [
        "张敏",
        "李强",
        "王芳",
        "刘洋",
        "陈静",
        "杨帆",
        "赵磊",
        "黄丽",
        "周杰",
        "吴婷",
        "徐鹏",
        "孙悦",
    ]
    staff = [
        StaffMember(
            id=f"s{i + 1:02d}",
            staff_no=f"{1001 + i}",
            name=name,
            password_hash=password_hash,
            card_no=f"CARD{1001 + i}",
            title="综合窗口受理员" if i < 10 else "导办员",
            department=types[i % len(types)].department,
            post_type=("party", "leifeng", "ordinary")[i % 3],
            stars=3 + i % 3,
            business_types=window_types[i % 10 + 1],
            can_issue_tickets=i >= 10,
        )
        for i, name in enumerate(names)
    ]
    return HallSetup(
        version=version,
        hall=hall,
        areas=areas,
        categories=categories,
        business_types=types,
        windows=windows,
        staff=staff,
    )


def demo_bookings(day: dt.date) -> list[Booking]:
    """A few bookings for `day`, so that check-in can be tried at the kiosk."""
    slots = [(dt.time(9, 30), dt.time(10, 0)), (dt.time(10, 0), dt.time(10, 30))]
    people = [
        ("张三", "13800000001", "110101199003077571", "biz-change"),
        ("李四", "13800000002", "44010619850715321X", "ss-card"),
        ("王五", "13800000003", "310104197912124416", "housing-fund"),
    ]
    return [
        Booking(
            id=f"bk-{day:%Y%m%d}-{i}",
            code=f"{day:%m%d}{i:04d}",
            name=name,
            phone=phone,
            id_number=id_number,
            business_type=type_id,
            date=day,
            slot_start=slots[i % 2][0],
            slot_end=slots[i % 2][1],
        )
        for i, (name, phone, id_number, type_id) in enumerate(people, start=1)
    ]
