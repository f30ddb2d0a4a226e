"""Declared resources at size: lists, filters and Excel export over 100,000 rows.

    .venv/bin/python -m bench.resources [--rows 100000] [--repeat 30]

Fills the `position` resource (a scoped one) on a fresh PostgreSQL database (the local
server, or a private one) with `--rows` records spread over 10 departments under one region,
then calls the resource service in-process as a user whose scope is the region and
everything below it (`dept_tree`, the closure-table lookup on every query): a list page with
its total, with and without filters, the first and a deep page; the export of every row and
of a filtered subset. Floors beside: the bare SQL SELECT of the same page (asyncpg, no
scope, no count) and openpyxl's write-only sheet of the same rows already in memory. Prints
Markdown tables and writes them to bench/results/resources.md. What and why: bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from openpyxl import Workbook

from cloud.db import migrate, open_engine
from cloud.devdb import create_database, drop_database, postgres_server
from cloud.identity.org import create_unit
from cloud.identity.principal import Principal
from cloud.resources.catalog import POSITION, positions
from cloud.resources.export import export_rows
from cloud.resources.service import list_rows, parse_query

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
TARGET_PAGE_S = 2.0
TARGET_EXPORT_S = 10.0
FILTER = {"name": "东区", "floor__from": "2", "floor__to": "4"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.resources", description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000, help="records of the resource")
    parser.add_argument("--repeat", type=int, default=30, help="calls per list measurement")
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="bench-resources-") as tmp,
        postgres_server(Path(tmp) / "pg") as server,
    ):
        name = create_database(server, "bench_resources")
        try:
            url = server.url(name)
            migrate(url)
            lines = asyncio.run(_run(url, server.dsn(name), Path(tmp), args))
        finally:
            drop_database(server, name)
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "resources.md").write_text(text, encoding="utf-8")
    return 0


async def _run(url: str, dsn: str, tmp: Path, args: argparse.Namespace) -> list[str]:
    engine = open_engine(url)
    region, departments = await _fill(engine, args.rows)
    user = Principal(
        id="bench",
        username="bench",
        name="bench",
        department_id=region,
        grants={POSITION.permission(r): "dept_tree" for r in ("view", "read")},
    )
    lines = [
        "# Declared resources at size",
        "",
        f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{args.rows:,} positions in {len(departments)} departments, a `dept_tree` user of "
        f"their region; {args.repeat} calls per list row; targets: a page < {TARGET_PAGE_S:g} s, "
        f"the export of every row < {TARGET_EXPORT_S:g} s",
        "",
        "| list (page of 20, with its total) | rows matched | p50 ms | p99 ms | "
        "floor: bare SELECT p50 ms |",
        "|---|---|---|---|---|",
    ]
    pg = await asyncpg.connect(dsn)
    deep = max(1, args.rows // 20 // 2)
    for label, mapping in (
        ("no filter, page 1", {}),
        (f"no filter, page {deep:,}", {"page": str(deep)}),
        ("name contains + floor range, page 1", FILTER),
        ("one department (eq), page 1", {"department_id": departments[3]}),
    ):
        query = parse_query(POSITION, mapping)
        times, total = await _list_times(engine, user, query, args.repeat)
        floor = await _floor_times(pg, query.page, mapping, args.repeat)
        lines.append(
            f"| {label} | {total:,} | {_ms(statistics.median(times))} | "
            f"{_ms(_p99(times))} | {_ms(statistics.median(floor))} |"
        )
        print(lines[-1], file=sys.stderr)
    lines += [
        "",
        "| export (.xlsx) | rows | seconds | rows/s | file MB | peak RSS growth MB | "
        "floor: openpyxl write-only of the same rows, s |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, mapping in (("every row", {}), ("filtered", FILTER)):
        query = parse_query(POSITION, mapping)
        out = tmp / f"export-{len(mapping)}.xlsx"
        process = psutil.Process()
        before = process.memory_info().rss
        peak = [before]
        watcher = asyncio.create_task(_watch_rss(process, peak))
        start = time.perf_counter()
        async with engine.connect() as conn:
            count = await export_rows(conn, user, POSITION, query, out)
        seconds = time.perf_counter() - start
        watcher.cancel()
        floor = await _openpyxl_floor(pg, mapping, tmp / "floor.xlsx")
        lines.append(
            f"| {label} | {count:,} | {seconds:.2f} | {count / seconds:,.0f} | "
            f"{out.stat().st_size / 1e6:.1f} | {(peak[0] - before) / 1e6:.0f} | {floor:.2f} |"
        )
        print(lines[-1], file=sys.stderr)
    await pg.close()
    await engine.dispose()
    lines += [
        "",
        "In-process calls of cloud/resources/service.py and export.py (no HTTP). The list's "
        "time includes its COUNT(*) and the scope's closure-table subquery; the floor is the "
        "same page's SELECT alone. Peak RSS growth: the process's resident memory sampled "
        "every 10 ms during the export, less its size before.",
    ]
    return lines


async def _fill(engine: Any, rows: int) -> tuple[str, list[str]]:
    now = time.time_ns() // 1_000_000
    async with engine.begin() as conn:
        region = await create_unit(conn, kind="region", name="市", parent_id=None, now_ms=now)
        departments = [
            await create_unit(
                conn, kind="department", name=f"部门{i}", parent_id=region, now_ms=now
            )
            for i in range(10)
        ]
    sides = ("东区", "西区", "南区", "北区", "中庭")
    batch: list[dict[str, Any]] = []
    for i in range(rows):
        batch.append(
            {
                "id": f"{i:012d}",
                "name": f"{i % 30 + 1}楼{sides[(i // 30) % 5]}{i}号",
                "floor": i % 30 + 1,
                "description": f"第{i}个位置，靠近{sides[(i // 5) % 5]}入口",
                "department_id": departments[i % 10],
                "created_by": None,
                "created_at": now,
                "updated_at": now,
            }
        )
        if len(batch) == 10_000 or i == rows - 1:
            async with engine.begin() as conn:
                await conn.execute(positions.insert(), batch)
            batch = []
    async with engine.begin() as conn:
        await conn.exec_driver_sql("ANALYZE positions")
    return region, departments


async def _list_times(
    engine: Any, user: Principal, query: Any, repeat: int
) -> tuple[list[float], int]:
    times: list[float] = []
    total = 0
    for _ in range(repeat):
        start = time.perf_counter()
        async with engine.connect() as conn:
            page = await list_rows(conn, user, POSITION, query)
        times.append(time.perf_counter() - start)
        total = page.total
    return times, total


async def _floor_times(pg: Any, page: int, mapping: dict[str, str], repeat: int) -> list[float]:
    sql, params = _bare_sql(mapping)
    times: list[float] = []
    for _ in range(repeat):
        start = time.perf_counter()
        await pg.fetch(
            sql + f" ORDER BY floor, name, id LIMIT 20 OFFSET {(page - 1) * 20}", *params
        )
        times.append(time.perf_counter() - start)
    return times


def _bare_sql(mapping: dict[str, str]) -> tuple[str, list[Any]]:
    sql = "SELECT * FROM positions"
    if "name" in mapping:
        sql += " WHERE name ILIKE $1 AND floor >= $2 AND floor <= $3"
        return sql, [f"%{mapping['name']}%", int(mapping["floor__from"]), int(mapping["floor__to"])]
    if "department_id" in mapping:
        return sql + " WHERE department_id = $1", [mapping["department_id"]]
    return sql, []


async def _openpyxl_floor(pg: Any, mapping: dict[str, str], out: Path) -> float:
    sql, params = _bare_sql(mapping)
    rows = await pg.fetch(sql + " ORDER BY floor, name, id", *params)
    values = [(r["name"], r["floor"], r["description"]) for r in rows]
    start = time.perf_counter()
    book = Workbook(write_only=True)
    sheet = book.create_sheet("位置")
    sheet.append(["位置名称", "楼层", "说明"])
    for value in values:
        sheet.append(value)
    book.save(out)
    return time.perf_counter() - start


async def _watch_rss(process: psutil.Process, peak: list[int]) -> None:
    while True:
        peak[0] = max(peak[0], process.memory_info().rss)
        await asyncio.sleep(0.01)


def _p99(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


if __name__ == "__main__":
    sys.exit(main())
