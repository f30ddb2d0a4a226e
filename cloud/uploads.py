"""Uploaded files: images and documents, accepted by what their content is (never by their
name or the client's content type), stored outside the database, served to whoever may.

- **Accepted**: doc, docx, xls, xlsx, pdf, jpg, bmp, png — recognised from the file's first
  bytes by `filetype`; anything else is refused, 415 `unsupported_file`. Larger than
  `uploads.max_mb`: 413 `file_too_large`, found while streaming (nothing bigger is buffered).
- **Stored** under `uploads.dir` by content: `<dir>/<sha256[:2]>/<sha256>`. The client's file
  name is kept in the metadata row (`uploads`), never used as a path. Two uploads of the same
  content share the file.
- **Who**: `upload.create` to upload; `GET /api/uploads/{id}` to the uploader, to holders of
  `upload.read` whose scope reaches the uploader's department, to whoever may view a record of a
  declared resource holding the upload in a `file` / `image` field (cloud/resources/), and to
  whoever a registered `Reach` lets through (a staff entry's instance, its archive record).
- **Portal forms** receive a file in their own request: `receive_field` checks and stores the
  posted file (no row yet), `record_upload` records it in the caller's transaction, so a form
  refused after the file was accepted leaves no upload behind in the database.

A resource's `file` / `image` field holds an upload's id (cloud/resources/).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, unquote

import filetype  # type: ignore[import-untyped]
import sqlalchemy as sa
from aiohttp import BodyPartReader, web
from sqlalchemy.ext.asyncio import AsyncConnection
from ulid import ULID

from cloud.audit import POLICIES, AuditPolicy, Origin, record
from cloud.calls import origin as call_origin
from cloud.config import CloudConfig
from cloud.context import CONFIG, ENGINE
from cloud.db import metadata
from cloud.errors import ApiError, register_errors
from cloud.identity.permissions import register
from cloud.identity.principal import Principal, authorize, current_principal, in_scope

__all__ = [
    "ACCEPTED",
    "IMAGE_TYPES",
    "Reach",
    "Received",
    "UploadInfo",
    "add_reach",
    "describe_uploads",
    "detect",
    "discard",
    "may_read",
    "receive_field",
    "record_upload",
    "setup",
    "stored_path",
    "upload_dir",
    "uploads",
]

log = logging.getLogger(__name__)

# extension -> MIME type of the kinds accepted (the MIME type served is ours, not the client's)
ACCEPTED = {
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
    "jpg": "image/jpeg",
    "bmp": "image/bmp",
    "png": "image/png",
}
IMAGE_TYPES = frozenset({"jpg", "bmp", "png"})
_CHUNK = 64 * 1024
_HEAD = 8192  # the bytes `filetype` looks at
_NAME_LENGTH = 255

uploads = sa.Table(
    "uploads",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),  # the client's file name, for display
    sa.Column("type", sa.String(16), nullable=False),  # extension of the detected kind
    sa.Column("mime", sa.String(100), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("uploaded_by", sa.String(64)),
    sa.Column("department_id", sa.String(64), sa.ForeignKey("org_units.id")),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Index("uploads_department", "department_id"),
    sa.Index("uploads_sha256", "sha256"),
)

register_errors(
    {
        "unsupported_file": (
            415,
            "不支持该文件类型，只能上传 doc、docx、xls、xlsx、pdf、jpg、bmp、png",
        ),
        "file_too_large": (413, "文件过大"),
        "unknown_upload": (404, "文件不存在"),
    }
)
register("upload.create", "文件：上传")
register("upload.read", "文件：下载")
POLICIES["upload"] = AuditPolicy("upload", "上传文件")


@dataclass(frozen=True)
class Received:
    """A file checked by its content and size and put in the store, not recorded yet."""

    name: str  # the client's file name, for display
    type: str  # the detected kind (extension)
    size: int
    sha256: str
    # a portal form's file waits here until it is recorded (`record_upload`) or discarded
    pending: Path | None = None

    @property
    def mime(self) -> str:
        return ACCEPTED[self.type]


@dataclass(frozen=True)
class UploadInfo:
    """What pages show of an upload: its name as a link, a thumbnail for an image."""

    id: str
    name: str
    type: str
    size: int
    uploaded_by: str | None

    @property
    def image(self) -> bool:
        return self.type in IMAGE_TYPES

    @property
    def url(self) -> str:
        return f"/api/uploads/{self.id}"


# another way to reach an upload: True when `principal` may read the upload `row` (a row of
# `uploads`) through something holding it that they may see
Reach = Callable[[AsyncConnection, Principal, Any], Awaitable[bool]]
_REACHES: list[Reach] = []


def setup(app: web.Application) -> None:
    """Add `POST /api/uploads` and `GET /api/uploads/{id}`."""
    app.router.add_post("/api/uploads", _post_upload)
    app.router.add_get("/api/uploads/{id}", _get_upload)


def detect(head: bytes) -> str | None:
    """The accepted kind (extension) of a file starting with `head`; None if not one."""
    kind = filetype.guess(head)
    if kind is None:
        return None
    extension = str(kind.extension)
    return extension if extension in ACCEPTED else None


def upload_dir(config: CloudConfig) -> Path:
    """Where the files are: `uploads.dir`, or the default described in cloud/config.py."""
    if config.uploads.dir:
        return Path(config.uploads.dir)
    scheme, sep, file = config.database.url.partition(":///")
    if scheme.startswith("sqlite") and sep and file and not file.startswith(":"):
        return Path(file).resolve().parent / "uploads"
    return Path(tempfile.gettempdir()) / f"smarthall-uploads-{os.getuid()}"


def stored_path(folder: Path, sha256: str) -> Path:
    return folder / sha256[:2] / sha256


def add_reach(reach: Reach) -> Reach:
    """Let `GET /api/uploads/{id}` serve whoever `reach` lets through (at import of the
    module that holds uploads in its own records)."""
    if reach not in _REACHES:
        _REACHES.append(reach)
    return reach


async def receive_field(config: CloudConfig, field: web.FileField) -> Received:
    """Check a file posted in a portal form (`await request.post()`): 415
    `unsupported_file`, 413 `file_too_large` or 422 for an empty one, nothing kept then. An
    accepted one waits beside the store until `record_upload` puts it in (or `discard`)."""

    async def chunks() -> AsyncIterator[bytes]:
        while chunk := await asyncio.to_thread(field.file.read, _CHUNK):
            yield chunk

    return await _store(config, field.filename, chunks(), wait=True)


def discard(received: Iterable[Received]) -> None:
    """Drop received files that will not be recorded (another field of the form failed)."""
    for one in received:
        if one.pending is not None:
            one.pending.unlink(missing_ok=True)


async def record_upload(
    conn: AsyncConnection, principal: Principal, origin: Origin, received: Received
) -> UploadInfo:
    """Record a received file as an upload of `principal`, audited, in the caller's
    transaction (the file goes into the store now; if the transaction then fails, it stays
    there unreferenced, harmless)."""
    if received.pending is not None:
        _put(received.pending, received.sha256)
    row: dict[str, Any] = {
        "id": str(ULID()),
        "name": received.name,
        "type": received.type,
        "mime": received.mime,
        "size": received.size,
        "sha256": received.sha256,
        "uploaded_by": None if principal.id.startswith("admin:") else principal.id,
        "department_id": principal.department_id,
        "created_at": time.time_ns() // 1_000_000,
    }
    await conn.execute(sa.insert(uploads).values(row))
    await record(
        conn,
        origin,
        action="create",
        resource="upload",
        resource_id=row["id"],
        hall=None,
        new={k: row[k] for k in ("name", "type", "size", "sha256", "department_id")},
        now_ms=row["created_at"],
    )
    log.info("upload %s: %s, %d bytes", row["id"], received.type, received.size)
    return UploadInfo(row["id"], received.name, received.type, received.size, row["uploaded_by"])


async def describe_uploads(conn: AsyncConnection, ids: Iterable[str]) -> dict[str, UploadInfo]:
    """The uploads of `ids` that exist, by id."""
    wanted = sorted({i for i in ids if i and len(i) <= 64})
    if not wanted:
        return {}
    rows = await conn.execute(
        sa.select(
            uploads.c.id, uploads.c.name, uploads.c.type, uploads.c.size, uploads.c.uploaded_by
        ).where(uploads.c.id.in_(wanted))
    )
    return {r.id: UploadInfo(r.id, r.name, r.type, r.size, r.uploaded_by) for r in rows}


async def may_read(conn: AsyncConnection, principal: Principal, row: Any) -> bool:
    """Whether `principal` may download the upload `row`: its uploader, `upload.read` in scope
    of the uploader's department, a viewer of a resource record holding it, or a `Reach`."""
    if row.uploaded_by == principal.id or await in_scope(
        conn, principal, "upload.read", department=row.department_id, owner=row.uploaded_by
    ):
        return True
    if await _held_by_a_record(conn, principal, row.id):
        return True
    for reach in _REACHES:
        if await reach(conn, principal, row):
            return True
    return False


# ---------------------------------------------------------------------------- helpers


async def _post_upload(request: web.Request) -> web.Response:
    principal = await current_principal(request)
    authorize(principal, "upload.create")
    config = request.app[CONFIG]
    if not request.content_type.startswith("multipart/"):
        raise ApiError("invalid_request", "应以 multipart/form-data 上传，文件字段名为 file")
    reader = await request.multipart()
    part = await reader.next()
    while part is not None and not (isinstance(part, BodyPartReader) and part.name == "file"):
        await part.release()
        part = await reader.next()
    if part is None or not isinstance(part, BodyPartReader):
        raise ApiError("invalid_request", "缺少文件字段 file")
    received = await _store(config, part.filename, _part_chunks(part))
    origin = call_origin(request, principal)
    async with request.app[ENGINE].begin() as conn:
        made = await record_upload(conn, principal, origin, received)
    row = {
        "id": made.id,
        "name": made.name,
        "type": made.type,
        "mime": received.mime,
        "size": made.size,
        "sha256": received.sha256,
    }
    return web.json_response(row, status=201)


async def _part_chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(_CHUNK):
        yield chunk


async def _store(
    config: CloudConfig, filename: str | None, chunks: AsyncIterator[bytes], *, wait: bool = False
) -> Received:
    """Stream a file into the store under its content's hash (`wait`: beside it, until it is
    recorded): checked for size while it comes, then for what its content is; a refused
    file leaves nothing behind."""
    name = _display_name(filename)
    folder = upload_dir(config)
    folder.mkdir(parents=True, exist_ok=True)
    limit = int(config.uploads.max_mb * 1024 * 1024)
    handle = tempfile.NamedTemporaryFile(dir=folder, prefix=".part-", delete=False)  # noqa: SIM115
    temporary = Path(handle.name)
    try:
        with handle:
            digest, size, head = await _receive(chunks, handle, limit)
        kind = detect(head)
        if kind is None:
            raise ApiError("unsupported_file")
        if wait:
            return Received(name, kind, size, digest, temporary)
        _put(temporary, digest)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return Received(name, kind, size, digest)


def _put(temporary: Path, sha256: str) -> None:
    """Move a checked file into the store (its content is there already: drop it)."""
    target = stored_path(temporary.parent, sha256)
    target.parent.mkdir(exist_ok=True)
    if target.exists():
        temporary.unlink(missing_ok=True)
    else:
        os.replace(temporary, target)


async def _receive(
    chunks: AsyncIterator[bytes], out: IO[bytes], limit: int
) -> tuple[str, int, bytes]:
    """Copy the chunks to `out`; their SHA-256, size and first bytes. 413 past `limit`."""
    digest = hashlib.sha256()
    size = 0
    head = b""
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise ApiError("file_too_large", f"不能超过 {limit // (1024 * 1024)} MB")
        if len(head) < _HEAD:
            head += chunk[: _HEAD - len(head)]
        digest.update(chunk)
        out.write(chunk)
    if size == 0:
        raise ApiError("invalid_request", "文件为空")
    return digest.hexdigest(), size, head


async def _get_upload(request: web.Request) -> web.StreamResponse:
    principal = await current_principal(request)
    upload_id = request.match_info["id"]
    if len(upload_id) > 64:
        raise ApiError("unknown_upload")
    async with request.app[ENGINE].connect() as conn:
        row = (await conn.execute(sa.select(uploads).where(uploads.c.id == upload_id))).first()
        # a file out of the caller's reach is answered as one that is not there
        allowed = row is not None and await may_read(conn, principal, row)
    if row is None or not allowed:
        raise ApiError("unknown_upload")
    path = stored_path(upload_dir(request.app[CONFIG]), row.sha256)
    if not path.is_file():
        log.error("upload %s: its file %s is missing", upload_id, path)
        raise ApiError("unknown_upload")
    disposition = "inline" if row.type in IMAGE_TYPES else "attachment"
    return web.FileResponse(
        path,
        headers={
            "Content-Type": row.mime,
            "Content-Disposition": _disposition(disposition, row.name, row.type),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600",
        },
    )


async def _held_by_a_record(conn: AsyncConnection, principal: Principal, upload_id: str) -> bool:
    """Whether a record of a declared resource holds the upload in a file or image field and
    is in the principal's view."""
    from cloud.resources.declare import RESOURCES

    for resource in list(RESOURCES.values()):
        held = [f.name for f in resource.fields if f.kind in ("file", "image")]
        if not held or not principal.can(resource.permission("view")):
            continue
        if not resource.scoped:
            where = sa.or_(*(resource.table.c[name] == upload_id for name in held))
            found = await conn.scalar(sa.select(sa.literal(1)).where(where).limit(1))
            if found is not None:
                return True
            continue
        department = resource.table.c[resource.department] if resource.department else None
        owner = resource.table.c[resource.owner] if resource.owner else None
        columns = [c for c in (department, owner) if c is not None]
        rows = await conn.execute(
            sa.select(sa.literal(1).label("one"), *columns)
            .where(sa.or_(*(resource.table.c[name] == upload_id for name in held)))
            .limit(20)
        )
        for row in rows:
            if await in_scope(
                conn,
                principal,
                resource.permission("view"),
                department=row._mapping[department.name] if department is not None else None,
                owner=row._mapping[owner.name] if owner is not None else None,
            ):
                return True
    return False


def _display_name(filename: str | None) -> str:
    """The client's file name for display: its last path segment, no control characters
    (some clients percent-encode a name that is not ASCII)."""
    name = re.split(r"[\\/]", unquote(filename or ""))[-1]
    name = "".join(c for c in name if c.isprintable()).strip()
    return name[:_NAME_LENGTH] or "未命名"


def _disposition(kind: str, name: str, extension: str) -> str:
    """RFC 6266: an ASCII fallback, and the real name percent-encoded as UTF-8."""
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    if not fallback.strip("_.") or "." not in fallback:
        fallback = f"file.{extension}"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
