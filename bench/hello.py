"""The HTTP floor: an aiohttp server with one "hello" route and nothing else.

`python -m bench.hello` listens on a free loopback port, prints `port N` and serves until
SIGTERM or SIGINT. It is what the edge node's HTTP layer costs with no work behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

from aiohttp import web

__all__ = ["main"]


async def hello(request: web.Request) -> web.Response:
    return web.json_response({"hello": "world"})


async def serve() -> None:
    app = web.Application()
    app.router.add_get("/hello", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    sys.stdout.write(f"port {sockets[0].getsockname()[1]}\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    asyncio.run(serve())


if __name__ == "__main__":
    main()
