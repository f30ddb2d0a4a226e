"""A small hall for tests: two areas, four business types, four windows, four staff."""

from __future__ import annotations

import datetime as dt
from typing import Any

from argon2 import PasswordHasher

from sync.hallsetup import HallSetup

PASSWORD = "s3cret-pass"
_HASH = PasswordHasher(time_cost=1, memory_cost=8192).hash(PASSWORD)


def small_hall(**hall: Any) -> HallSetup:
    """Windows 1–2 in area `main`, window 3 in `annex`; window 4 serves only `tax`."""
    return HallSetup.model_validate(
        {
            "version": hall.pop("version", 1),
            "hall": {
                "id": "test-hall",
                "name": "测试大厅",
                "unit_name": "测试局",
                "hours": [
                    {"start": "09:00", "end": "12:00"},
                    {"start": "13:30", "end": "17:30"},
                ],
                **hall,
            },
            "areas": [{"id": "main", "name": "主厅"}, {"id": "annex", "name": "附厅"}],
            "categories": [
                {"id": "commerce", "name": "商事", "waiting_warning": 3},
                {"id": "social", "name": "社保"},
            ],
            "business_types": [
                {"id": "license", "category": "commerce", "name": "证照变更", "prefix": "A"},
                {
                    "id": "tax",
                    "category": "commerce",
                    "name": "税务",
                    "prefix": "B",
                    "daily_cap": 3,
                    "hours": [{"start": "09:00", "end": "11:00"}],
                },
                {
                    "id": "pension",
                    "category": "social",
                    "name": "养老",
                    "prefix": "C",
                    "duration_warning_seconds": 600,
                },
                {"id": "card", "category": "social", "name": "社保卡", "prefix": "D"},
            ],
            "windows": [
                {"id": "w1", "area": "main", "number": "1", "business_types": ["license", "tax"]},
                {"id": "w2", "area": "main", "number": "2", "business_types": ["tax", "license"]},
                {"id": "w3", "area": "annex", "number": "3", "business_types": ["pension", "card"]},
                {"id": "w4", "area": "main", "number": "4", "business_types": ["tax"]},
            ],
            "staff": [
                {
                    "id": f"s{i}",
                    "staff_no": f"10{i}",
                    "name": name,
                    "password_hash": _HASH,
                    "card_no": f"C{i}",
                    "business_types": types,
                    "can_issue_tickets": i == 4,
                }
                for i, name, types in (
                    (1, "张敏", ["license"]),
                    (2, "李强", ["tax", "license"]),
                    (3, "王芳", ["pension"]),
                    (4, "刘洋", ["card"]),
                )
            ],
        }
    )


def booking(
    code: str, type_id: str, day: dt.date, start: str, end: str, **extra: Any
) -> dict[str, Any]:
    return {
        "id": f"bk-{code}",
        "code": code,
        "business_type": type_id,
        "date": day.isoformat(),
        "slot_start": start,
        "slot_end": end,
        **extra,
    }
