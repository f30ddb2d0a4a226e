"""The screens' pages and files, served by the edge so that they work with the outside down.

`/ui/static/…` serves `ui/static/` (our scripts and styles); `/ui/vendor/<package>/…` serves
`ui/node_modules/<package>/…` for the packages `ui/package.json` lists, and nothing else
(ARCHITECTURE.md decision 8: front-end libraries come from npm, installed by `scripts/setup`,
never copied into the repository); `/screen/<kind>/<id>` are the screens' pages.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from aiohttp import web

from edge.api.common import Handler
from edge.queue import QueueError

__all__ = ["UI_ROOT", "setup_static", "vendor_packages"]

log = logging.getLogger(__name__)

UI_ROOT = Path(__file__).resolve().parents[2] / "ui"
_STATIC = web.AppKey("ui_static", Path)
# /screen/<kind>/<id>: the id is the window (window, pad, caller) or the area (kiosk, central)
_PAGES = {
    "window": "screens/window.html",
    "pad": "screens/pad.html",
    "caller": "screens/caller.html",
    "kiosk": "screens/kiosk.html",
    "central": "screens/central.html",
}
# a page is read again by every screen at start: never from a stale cache
_NO_CACHE = {"Cache-Control": "no-cache"}
_CACHED = {"Cache-Control": "public, max-age=3600"}


def setup_static(app: web.Application, root: Path = UI_ROOT) -> None:
    """Add the screens' routes to an app made by `create_app`; a second call changes nothing."""
    if _STATIC in app:
        return
    app[_STATIC] = root
    packages = vendor_packages(root)
    if packages and not (root / "node_modules").is_dir():
        log.warning("ui/node_modules is missing: run scripts/setup (npm ci in ui/)")
    if not (root / "static").is_dir():
        log.warning("no %s: the screens have no scripts or styles", root / "static")
    app.router.add_get("/ui/static/{path:.+}", _static_handler(root / "static"), name="ui_static")
    app.router.add_get("/ui/vendor/{path:.+}", _vendor_handler(root, packages), name="ui_vendor")
    for kind, page in _PAGES.items():
        app.router.add_get(f"/screen/{kind}/{{id}}", _page_handler(root / page), name=kind)


def vendor_packages(root: Path = UI_ROOT) -> frozenset[str]:
    """The package names `ui/package.json` lists as dependencies."""
    try:
        manifest = json.loads((root / "package.json").read_text("utf-8"))
    except (OSError, ValueError):
        log.warning("no readable ui/package.json: no front-end libraries are served")
        return frozenset()
    dependencies = manifest.get("dependencies", {})
    return frozenset(dependencies) if isinstance(dependencies, dict) else frozenset()


def _static_handler(folder: Path) -> Handler:
    async def static(request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        return _file(folder, path.split("/"), path, _NO_CACHE)

    return static


def _vendor_handler(root: Path, packages: frozenset[str]) -> Handler:
    modules = root / "node_modules"

    async def vendor(request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        parts = path.split("/")
        # a scoped package is two segments: @scope/name
        name_length = 2 if parts[0].startswith("@") else 1
        package = "/".join(parts[:name_length])
        if package not in packages:
            raise QueueError("not_found", path)
        return _file(modules / package, parts[name_length:], path, _CACHED)

    return vendor


def _file(folder: Path, parts: list[str], path: str, headers: dict[str, str]) -> web.FileResponse:
    """The file `parts` inside `folder`; anything that leaves it, or is not a file, is 404."""
    if not parts or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        raise QueueError("not_found", path)
    base = folder.resolve()
    file = base.joinpath(*parts).resolve()
    if not file.is_relative_to(base) or not file.is_file():
        raise QueueError("not_found", path)
    return web.FileResponse(file, headers=headers)


def _page_handler(page: Path) -> Handler:
    async def serve(request: web.Request) -> web.StreamResponse:
        if not page.is_file():
            raise QueueError("not_found", str(page.name))
        return web.FileResponse(page, headers=_NO_CACHE)

    return serve
