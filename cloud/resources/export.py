"""A resource's Excel export: exactly the rows of a filtered list, in its order, with the
list columns under their Chinese headers — streamed from the database into openpyxl's
write-only workbook, so neither the rows nor the sheet are held in memory whole."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.identity.principal import Principal
from cloud.resources.declare import Field, Resource
from cloud.resources.query import Query, row_select, scoped_where
from cloud.resources.values import cell

__all__ = ["export_rows"]

_BATCH = 2000  # rows fetched from the cursor and written to the sheet at a time


async def export_rows(
    conn: AsyncConnection,
    principal: Principal,
    resource: Resource,
    query: Query,
    out: str | Path | IO[bytes],
) -> int:
    """Write the .xlsx of every row the principal may view and read (`<resource>.view` and
    `.read`) matching `query` (its page ignored) to `out`; the number of rows. The sheet is
    written off the event loop, a batch at a time."""
    where = scoped_where(principal, resource, "view", "read")
    columns = resource.list_columns
    statement = row_select(resource, query).where(*where)
    book = Workbook(write_only=True)
    sheet: WriteOnlyWorksheet = book.create_sheet(title=_sheet_title(resource.label))
    sheet.append([f.label for f in columns])
    count = 0
    result = await conn.stream(statement.execution_options(yield_per=_BATCH))
    async for batch in result.partitions(_BATCH):
        rows = [r._mapping for r in batch]
        await asyncio.to_thread(_append, sheet, columns, rows)
        count += len(rows)
    await asyncio.to_thread(book.save, out)
    return count


def _append(sheet: WriteOnlyWorksheet, columns: tuple[Field, ...], rows: list[Any]) -> None:
    # one converter per column, chosen once: this runs for every cell of large exports
    converters = [_converter(f) for f in columns]
    append = sheet.append
    for row in rows:
        append([convert(row) for convert in converters])


def _converter(field: Field) -> Callable[[Any], Any]:
    name = field.name
    if field.kind == "ref" or (field.kind == "choice" and field.dictionary is not None):
        label = f"_label_{name}"
        return lambda row: cell(field, row[name], row[label])
    if field.kind == "choice":
        options = dict(field.options)
        return lambda row: cell(field, row[name], options.get(row[name]))
    if field.kind in ("text", "textarea", "int", "phone", "email", "id_number"):
        return lambda row: row[name]
    return lambda row: cell(field, row[name], None)


def _sheet_title(label: str) -> str:
    # Excel: at most 31 characters, none of []:*?/\
    return "".join(c for c in label if c not in "[]:*?/\\")[:31] or "数据"
