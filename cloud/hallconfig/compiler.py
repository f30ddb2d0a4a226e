"""From the authored pieces to the hall setup the edge pulls, and back: `compile_setup` builds
the contract's HallSetup from the tables, `import_setup` fills the tables from a HallSetup (a
hall configured the old way, as one document, moves over), `changes` says what a compiled
setup changes against a stored version, and `shown` is a setup as the admin may see it."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.audit import Origin, record
from cloud.errors import ApiError
from cloud.hallconfig.pieces import PIECES, insert_item, read_items
from cloud.hallconfig.settings import (
    CALENDAR_FIELDS,
    read_settings,
    read_voice,
    write_settings,
    write_voice,
)
from cloud.hallconfig.tables import (
    hall_areas,
    hall_business_types,
    hall_categories,
    hall_phrases,
    hall_settings,
    hall_staff,
    hall_staff_types,
    hall_window_types,
    hall_windows,
)
from cloud.setups import newest_setup, parse_setup
from sync.hallsetup import HallSetup

__all__ = ["SECTIONS", "changes", "compile_setup", "import_newest", "import_setup", "shown"]

# the setup's list sections and the pieces they come from
SECTIONS = {
    "areas": "areas",
    "categories": "categories",
    "business_types": "business-types",
    "windows": "windows",
    "staff": "staff",
}
_REQUIRED = {"areas": "叫号区域", "categories": "业务大类", "business_types": "业务小类"}

# children before parents: the order an import clears a hall's pieces in
_CLEARED = (hall_staff_types, hall_window_types, hall_staff, hall_windows, hall_business_types,
            hall_categories, hall_phrases, hall_areas, hall_settings)  # fmt: skip


async def compile_setup(conn: AsyncConnection, hall: str) -> HallSetup:
    """The hall's authored configuration as the next setup version (one above the newest
    stored), validated by the contract; 422 `invalid_setup` naming what it refuses."""
    newest = await newest_setup(conn, hall)
    body: dict[str, Any] = {
        "version": (newest[0] if newest is not None else 0) + 1,
        "hall": await read_settings(conn, hall),
    }
    for section, piece in SECTIONS.items():
        items = await read_items(conn, PIECES[piece], hall)
        body[section] = [{k: v for k, v in item.items() if k != "sort"} for item in items]
    missing = [label for section, label in _REQUIRED.items() if not body[section]]
    if missing:
        raise ApiError("invalid_setup", f"尚未设置{'、'.join(missing)}")
    body["voice"] = (await read_voice(conn, hall)).model_dump(mode="json")
    return parse_setup(hall, json.dumps(body, ensure_ascii=False).encode())


async def import_setup(
    conn: AsyncConnection,
    hall: str,
    setup: HallSetup,
    *,
    department: str | None,
    origin: Origin,
    now_ms: int,
) -> dict[str, int]:
    """Replace the hall's authored pieces by those of `setup` (the caller holds the hall's
    lock); how many of each there are now."""
    for table in _CLEARED:
        await conn.execute(sa.delete(table).where(table.c.hall == hall))
    plain = setup.model_dump(mode="json")
    info = {k: v for k, v in plain["hall"].items() if k not in CALENDAR_FIELDS}
    await write_settings(conn, hall, info, replace=True, department=department, origin=origin,
                         now_ms=now_ms)  # fmt: skip
    counts: dict[str, int] = {}
    for section, piece in SECTIONS.items():
        for sort, item in enumerate(plain[section]):
            await insert_item(conn, PIECES[piece], hall, item, sort=sort, department=department,
                              actor=origin.actor, now_ms=now_ms)  # fmt: skip
        counts[section] = len(plain[section])
    await write_voice(conn, hall, setup.voice, department=department, origin=origin,
                      now_ms=now_ms)  # fmt: skip
    await record(conn, origin, action="create", resource="hall_config",
                 resource_id=f"import:{setup.version}", hall=hall,
                 new={"from_version": setup.version, **counts}, now_ms=now_ms)  # fmt: skip
    return counts


async def import_newest(
    conn: AsyncConnection,
    hall: str,
    *,
    department: str | None,
    origin: Origin,
    now_ms: int,
) -> tuple[HallSetup, dict[str, int]]:
    """Replace the hall's authored pieces by those of its newest stored setup (the caller
    holds the hall's lock): that setup, and how many of each piece there are now; 404
    `no_hall_setup` when none is stored."""
    newest = await newest_setup(conn, hall)
    if newest is None:
        raise ApiError("no_hall_setup", hall)
    setup = parse_setup(hall, json.dumps(newest[1]).encode())
    counts = await import_setup(conn, hall, setup, department=department, origin=origin,
                                now_ms=now_ms)  # fmt: skip
    return setup, counts


def changes(setup: HallSetup, stored: tuple[int, dict[str, Any]] | None) -> dict[str, Any]:
    """What `setup` changes against the stored version `stored` ((version, body)): the hall
    settings and voice settings that differ, and per list section the ids added, removed and
    changed, and whether the order changed. Ids and field names only, never values."""
    new = setup.model_dump(mode="json")
    old = stored[1] if stored is not None else {}
    ignored = {"id", *CALENDAR_FIELDS}
    answer: dict[str, Any] = {
        "against_version": stored[0] if stored is not None else None,
        "hall": _differing(new["hall"], old.get("hall"), ignored),
        "voice": _differing(new["voice"], old.get("voice"), set()),
    }
    for section in SECTIONS:
        now = {i["id"]: i for i in new[section]}
        before = {i["id"]: i for i in old.get(section, []) if isinstance(i, dict) and "id" in i}
        kept = [i for i in now if i in before]
        answer[section] = {
            "added": [i for i in now if i not in before],
            "removed": [i for i in before if i not in now],
            "changed": [i for i in kept if now[i] != before[i]],
            "reordered": kept != [i for i in before if i in now],
        }
    answer["unchanged"] = (
        not answer["hall"]
        and not answer["voice"]
        and not any(
            s["added"] or s["removed"] or s["changed"] or s["reordered"]
            for s in (answer[section] for section in SECTIONS)
        )
    )
    return answer


def shown(setup: HallSetup) -> dict[str, Any]:
    """The setup as the admin sees it: a staff member's password hash stays in the cloud
    (`password_set` says whether there is one)."""
    plain = setup.model_dump(mode="json")
    plain["staff"] = [
        {
            **{k: v for k, v in s.items() if k != "password_hash"},
            "password_set": bool(s["password_hash"]),
        }
        for s in plain["staff"]
    ]
    return plain


def _differing(new: dict[str, Any], old: Any, ignored: set[str]) -> list[str]:
    old = old if isinstance(old, dict) else {}
    return sorted(
        k for k in new.keys() | old.keys() if k not in ignored and new.get(k) != old.get(k)
    )
