"""The portal's files: our styles and scripts under `/portal/static/…`, and the front-end
libraries `ui/package.json` lists under `/portal/vendor/<package>/…`, read from
`ui/node_modules` (installed by `scripts/setup`, never copied into the repository)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

__all__ = ["UI_ROOT", "add_static_routes", "vendor_packages"]

log = logging.getLogger(__name__)

UI_ROOT = Path(__file__).resolve().parents[2] / "ui"

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# our files change with the code: the browser asks again; a pinned library does not change
_NO_CACHE = {"Cache-Control": "no-cache"}
_CACHED = {"Cache-Control": "public, max-age=86400"}


def add_static_routes(app: web.Application, root: Path = UI_ROOT) -> None:
    """Serve `root/static/portal/` and the listed packages of `root/node_modules/`."""
    packages = vendor_packages(root)
    if packages and not (root / "node_modules").is_dir():
        log.warning("ui/node_modules is missing: run scripts/setup (npm ci in ui/)")
    app.router.add_get("/portal/static/{path:.+}", _static(root / "static" / "portal"))
    app.router.add_get("/portal/vendor/{path:.+}", _vendor(root / "node_modules", packages))


def vendor_packages(root: Path = UI_ROOT) -> frozenset[str]:
    """The package names `ui/package.json` lists as dependencies."""
    try:
        manifest = json.loads((root / "package.json").read_text("utf-8"))
    except (OSError, ValueError):
        log.warning("no readable ui/package.json: the portal serves no front-end libraries")
        return frozenset()
    dependencies = manifest.get("dependencies", {})
    return frozenset(dependencies) if isinstance(dependencies, dict) else frozenset()


def _static(folder: Path) -> _Handler:
    async def serve(request: web.Request) -> web.StreamResponse:
        return _file(folder, request.match_info["path"].split("/"), _NO_CACHE)

    return serve


def _vendor(modules: Path, packages: frozenset[str]) -> _Handler:
    async def serve(request: web.Request) -> web.StreamResponse:
        parts = request.match_info["path"].split("/")
        # a scoped package is two segments: @scope/name
        length = 2 if parts[0].startswith("@") else 1
        if "/".join(parts[:length]) not in packages:
            raise web.HTTPNotFound()
        return _file(modules.joinpath(*parts[:length]), parts[length:], _CACHED)

    return serve


def _file(folder: Path, parts: list[str], headers: dict[str, str]) -> web.FileResponse:
    """The file `parts` inside `folder`; anything hidden, leaving it or not a file is 404."""
    if not parts or any(p in ("", ".", "..") or p.startswith(".") or "\\" in p for p in parts):
        raise web.HTTPNotFound()
    base = folder.resolve()
    file = base.joinpath(*parts).resolve()
    if not file.is_relative_to(base) or not file.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(file, headers=headers)
