"""Live data for browser screens: the edge's WebSocket relay of its committed event log.

ARCHITECTURE.md decision 4, chosen for every browser screen: `GET /api/live`, one WebSocket per
screen. The screen authenticates with its API token, as `?token=` or as its first message
`{"type": "auth", "token": "…"}` (browsers cannot set headers on a WebSocket); a missing or
wrong token closes the socket with code 4401. It then sends
`{"type": "subscribe", "channels": ["area:main", "window:w1", "events:main"], "after": 120}`
(`after`, optional, replays the events of `events:` channels committed after that sequence
number) and `{"type": "unsubscribe", "channels": […]}`; `{"type": "ping"}` is answered `pong`.

Every message from the edge is JSON `{"channel", "type", "seq", "data"}`: `snapshot` at once on
subscribing, then `update` after each commit that changed a status channel (computed once per
batch of commits for all its watchers, unchanged states not sent) and `event` for each event of
an `events:` channel. `seq` is the event log position the data reflects, so a screen can ignore
what is older than what it shows and see a gap. Refusals are `error` messages, with the queue's
codes and Chinese messages; the socket stays open.

A slow browser never holds up a commit or another browser: the commit only hands its events to
the relay's pump task, and each connection has its own bounded outbox and writer. When a
connection's outbox overflows it is dropped and the browser gets `resync` and fresh snapshots
(events channels replay what it missed, up to a limit).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import sqlite3
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Hashable
from dataclasses import dataclass
from itertools import count
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from edge.api.auth import Authenticator, Principal
from edge.api.channels import Channel, check_allowed, event_areas, parse_channel, touched
from edge.api.common import AUTH, ENGINE
from edge.queue import QueueEngine, QueueError
from edge.queue.store import Event

__all__ = ["RELAY", "UNAUTHORIZED", "Relay", "setup_relay"]

log = logging.getLogger(__name__)

UNAUTHORIZED = 4401  # close code: no valid token
MAX_CHANNELS = 32  # subscriptions per connection
REPLAY_LIMIT = 500  # events an events-channel snapshot replays at most
_REPLAY_SCAN = 5000  # log rows read to find them
_UNAUTHORIZED_REASON = QueueError("unauthorized").message.encode()
_GOING_AWAY_REASON = "边缘节点正在停止".encode()
_PHASES = (frozenset({"window"}), frozenset({"area", "events"}))


@dataclass(frozen=True)
class RelaySettings:
    """`heartbeat`: seconds between pings (a browser that stops answering is dropped);
    `outbox_limit`: messages waiting for one browser before it must resync; `refresh_seconds`:
    how often watched states are read again for what time alone changes (service hours);
    `auth_timeout`: seconds a socket may take to send its token; `send_buffer`: the socket's
    send buffer, so that a slow browser is noticed early."""

    heartbeat: float = 20.0
    outbox_limit: int = 256
    refresh_seconds: float = 30.0
    auth_timeout: float = 10.0
    send_buffer: int = 64 * 1024


def setup_relay(app: web.Application, settings: RelaySettings | None = None) -> None:
    """Add `GET /api/live` to an app made by `create_app`; a second call changes nothing."""
    if RELAY in app:
        return
    settings = settings or RelaySettings()
    relay = Relay(
        app[ENGINE],
        app[AUTH],
        heartbeat=settings.heartbeat,
        outbox_limit=max(settings.outbox_limit, MAX_CHANNELS + 4),
        refresh_seconds=settings.refresh_seconds,
        auth_timeout=settings.auth_timeout,
        send_buffer=settings.send_buffer,
    )
    app[RELAY] = relay
    app.router.add_get("/api/live", relay.handle, name="live")
    app.cleanup_ctx.append(relay.running)
    app.on_shutdown.append(relay.close_all)


class Relay:
    """The relay of one edge node: its watchers, their subscriptions, and the pump."""

    def __init__(
        self,
        engine: QueueEngine,
        auth: Authenticator,
        *,
        heartbeat: float,
        outbox_limit: int,
        refresh_seconds: float,
        auth_timeout: float,
        send_buffer: int,
    ) -> None:
        self.engine = engine
        self.auth = auth
        self.heartbeat = heartbeat
        self.outbox_limit = outbox_limit
        self.refresh_seconds = refresh_seconds
        self.auth_timeout = auth_timeout
        self.send_buffer = send_buffer
        self.computed: Counter[str] = Counter()  # status reads per channel, for tests and bench
        self.resyncs = 0
        self._watchers: set[_Watcher] = set()
        self._subscribers: dict[str, set[_Watcher]] = {}
        self._channels: dict[str, Channel] = {}
        self._last: dict[str, str] = {}  # last data pushed per status channel
        self._pending: list[Event] = []
        self._refresh_all = False
        self._wake = asyncio.Event()
        self._seq = 0
        self._active = False

    # ------------------------------------------------------------------- life cycle

    async def running(self, app: web.Application) -> AsyncIterator[None]:
        """The app's cleanup context: follow the log and run the pump while the app runs."""
        row = self.engine.conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
        self._seq = int(row[0])
        self.engine.store.subscribe(self._committed)
        self._active = True
        tasks = [asyncio.create_task(self._pump()), asyncio.create_task(self._refresh())]
        try:
            yield
        finally:
            self._active = False
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def close_all(self, app: web.Application) -> None:
        """On shutdown: tell every browser the edge is going away (they reconnect later)."""
        await asyncio.gather(
            *(
                w.ws.close(code=WSCloseCode.GOING_AWAY, message=_GOING_AWAY_REASON)
                for w in list(self._watchers)
            ),
            return_exceptions=True,
        )

    # ------------------------------------------------------------------- one connection

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=self.heartbeat, max_msg_size=64 * 1024)
        if not ws.can_prepare(request).ok:
            raise QueueError("invalid_request", "GET /api/live is a WebSocket")
        await ws.prepare(request)
        self._limit_buffers(request)
        token = request.query.get("token", "") or await self._token_message(ws)
        principal = self.auth.identify_token(token)
        if principal is None:
            await ws.close(code=UNAUTHORIZED, message=_UNAUTHORIZED_REASON)
            return ws
        watcher = _Watcher(ws, principal, token, self.outbox_limit)
        self._watchers.add(watcher)
        writer = asyncio.create_task(self._write(watcher))
        try:
            watcher.say("welcome", self._seq, _identity(principal))
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await self._receive(watcher, message.data)
                elif message.type == WSMsgType.BINARY:
                    watcher.refuse(QueueError("invalid_request", "messages are JSON text"))
        except _Unauthorized:
            await ws.close(code=UNAUTHORIZED, message=_UNAUTHORIZED_REASON)
        finally:
            self._forget(watcher)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        return ws

    def _limit_buffers(self, request: web.Request) -> None:
        transport = request.transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.send_buffer)
        with contextlib.suppress(AttributeError, NotImplementedError):
            transport.set_write_buffer_limits(high=self.send_buffer)

    async def _token_message(self, ws: web.WebSocketResponse) -> str:
        """The token of a first message `{"type": "auth", "token": …}`, or "" after a while."""
        try:
            message = await ws.receive(timeout=self.auth_timeout)
        except TimeoutError:
            return ""
        if message.type != WSMsgType.TEXT:
            return ""
        with contextlib.suppress(ValueError):
            body = json.loads(message.data)
            if isinstance(body, dict) and body.get("type") == "auth":
                token = body.get("token")
                return token if isinstance(token, str) else ""
        return ""

    async def _receive(self, watcher: _Watcher, text: str) -> None:
        try:
            try:
                message = json.loads(text)
            except ValueError as exc:
                raise QueueError("invalid_request", "the message is not JSON") from exc
            if not isinstance(message, dict):
                raise QueueError("invalid_request", "a message is a JSON object with a type")
            kind = message.get("type")
            if kind == "subscribe":
                await self._subscribe(watcher, _channel_names(message), _after(message))
            elif kind == "unsubscribe":
                for name in _channel_names(message):
                    self._unsubscribe(watcher, name)
            elif kind == "ping":
                watcher.say("pong", self._seq, None)
            else:
                raise QueueError(
                    "invalid_request", f"unknown message type {kind!r}: subscribe, unsubscribe"
                )
        except QueueError as refusal:
            watcher.refuse(refusal)
        except (_Unauthorized, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("live message not handled: %.200s", text)
            watcher.say("error", self._seq, {"code": "internal_error", "message": "系统内部错误"})

    async def _subscribe(self, watcher: _Watcher, names: list[str], after: int | None) -> None:
        # a staff session may have ended since the socket opened
        principal = self.auth.identify_token(watcher.token)
        if principal is None:
            raise _Unauthorized
        await self._settled()
        for name in names:
            try:
                channel = parse_channel(name, self.engine)
                check_allowed(principal, channel, self.engine.hall)
                key = str(channel)
                if key not in watcher.channels and len(watcher.channels) >= MAX_CHANNELS:
                    raise QueueError("invalid_request", f"at most {MAX_CHANNELS} channels")
                self._snapshot(watcher, channel, after)
            except QueueError as refusal:
                watcher.refuse(refusal, channel=name)
                continue
            watcher.channels[key] = channel
            self._subscribers.setdefault(key, set()).add(watcher)
            self._channels[key] = channel

    def _unsubscribe(self, watcher: _Watcher, name: str) -> None:
        watcher.channels.pop(name, None)
        watcher.outbox.pop(name, None)
        watchers = self._subscribers.get(name)
        if watchers is None:
            return
        watchers.discard(watcher)
        if not watchers:
            del self._subscribers[name]
            self._channels.pop(name, None)
            self._last.pop(name, None)

    def _forget(self, watcher: _Watcher) -> None:
        for name in list(watcher.channels):
            self._unsubscribe(watcher, name)
        self._watchers.discard(watcher)

    def _snapshot(self, watcher: _Watcher, channel: Channel, after: int | None) -> None:
        """Offer the channel's state now; the caller has waited for `_settled`."""
        key, seq = str(channel), self._seq
        if channel.is_status:
            data = _dumps(channel.read(self.engine))
            watcher.delivered[key] = seq
        else:
            data = _dumps(self._replay(channel, after, seq))
            watcher.delivered[key] = after if after is not None and after < seq else seq
        watcher.seen[key] = seq
        watcher.offer(("snapshot", key), _text(key, "snapshot", seq, data))

    def _replay(self, channel: Channel, after: int | None, seq: int) -> dict[str, Any]:
        if after is None or after >= seq:
            return {"events": [], "complete": True}
        rows = self.engine.store.events_after(after, _REPLAY_SCAN)
        hall = self.engine.hall
        events = []
        for event in rows:
            if event.seq > seq:
                break
            areas = event_areas(event, hall)
            if areas is None or channel.id in areas:
                events.append(event.as_json())
        scanned_all = len(rows) < _REPLAY_SCAN or rows[-1].seq >= seq
        complete = scanned_all and len(events) <= REPLAY_LIMIT
        return {"events": events[-REPLAY_LIMIT:], "complete": complete}

    # ------------------------------------------------------------------- the pump

    def _committed(self, events: list[Event]) -> None:
        """In the commit: note the events and wake the pump; nothing else."""
        if not self._active:
            return
        self._seq = events[-1].seq
        if self._subscribers:
            self._pending.extend(events)
            self._wake.set()

    async def _settled(self) -> None:
        """Return when no write is open: what the connection reads then is committed."""
        conn = self.engine.conn
        while conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # a failed group commit undid everything
                await self.engine.store.durable()
            if conn.in_transaction:
                await asyncio.sleep(0.001)

    async def _pump(self) -> None:
        while True:
            await self._wake.wait()
            await self._settled()
            self._wake.clear()
            events, self._pending = self._pending, []
            refresh, self._refresh_all = self._refresh_all, False
            # windows first, and sent before the areas are read: a window's state is one row,
            # an area's status the whole queue of the area
            for phase, kinds in enumerate(_PHASES):
                if phase:
                    await asyncio.sleep(0)
                    await self._settled()
                try:
                    self._push(events, refresh, kinds)
                except Exception:
                    log.exception("live updates not pushed; the next commit tries again")

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_seconds)
            if self._subscribers:
                self._refresh_all = True
                self._wake.set()

    def _push(self, events: list[Event], refresh: bool, kinds: frozenset[str]) -> None:
        if not self._subscribers or not self.engine.configured:
            return
        hall = self.engine.hall
        if "window" in kinds and any(e.type == "config.applied" for e in events):
            self._recheck()
        changed = touched(events, hall)
        for key, channel in list(self._channels.items()):
            if (
                channel.kind in kinds
                and channel.is_status
                and (refresh or changed.includes(channel))
            ):
                self._push_status(key, channel)
        if "events" in kinds:
            for event in events:
                areas = event_areas(event, hall)
                for area in hall.areas if areas is None else areas:
                    self._push_event(f"events:{area}", event)

    def _push_status(self, key: str, channel: Channel) -> None:
        watchers = self._subscribers.get(key, set())
        try:
            data = _dumps(channel.read(self.engine))
        except QueueError as refusal:  # the area or window is gone
            for watcher in list(watchers):
                watcher.refuse(refusal, channel=key)
                self._unsubscribe(watcher, key)
            return
        self.computed[key] += 1
        if self._last.get(key) == data:
            return
        self._last[key] = data
        seq = self._seq
        text = _text(key, "update", seq, data)
        for watcher in watchers:
            if watcher.seen.get(key, -1) < seq:
                watcher.seen[key] = seq
                watcher.offer(key, text, channel=key, seq=seq)

    def _push_event(self, key: str, event: Event) -> None:
        watchers = self._subscribers.get(key)
        if not watchers:
            return
        text = _text(key, "event", event.seq, _dumps(event.as_json()))
        for watcher in watchers:
            if watcher.seen.get(key, -1) < event.seq:
                watcher.seen[key] = event.seq
                watcher.offer((key, event.seq), text, channel=key, seq=event.seq)

    def _recheck(self) -> None:
        """After a new configuration: drop subscriptions to what is gone or no longer allowed."""
        for watcher in list(self._watchers):
            for key in list(watcher.channels):
                try:
                    check_allowed(
                        watcher.principal, parse_channel(key, self.engine), self.engine.hall
                    )
                except QueueError as refusal:
                    watcher.refuse(refusal, channel=key)
                    self._unsubscribe(watcher, key)

    # ------------------------------------------------------------------- the writers

    async def _write(self, watcher: _Watcher) -> None:
        """Send a watcher's outbox in order; only this task waits for a slow browser."""
        try:
            while True:
                await watcher.wake.wait()
                watcher.wake.clear()
                if watcher.overflowed:
                    await self._resync(watcher)
                while watcher.outbox and not watcher.overflowed:
                    _key, (channel, seq, text) = watcher.outbox.popitem(last=False)
                    await watcher.ws.send_str(text)
                    if channel is not None:
                        watcher.delivered[channel] = seq
        except (ConnectionError, RuntimeError) as exc:
            log.info("live connection lost while sending: %s", exc)
            await watcher.ws.close()

    async def _resync(self, watcher: _Watcher) -> None:
        """The browser fell behind: drop what waits, send fresh snapshots of all it watches."""
        watcher.overflowed = False
        self.resyncs += 1
        await self._settled()
        watcher.outbox.clear()
        watcher.say("resync", self._seq, {"reason": "slow"})
        for key, channel in list(watcher.channels.items()):
            try:
                self._snapshot(watcher, channel, watcher.delivered.get(key))
            except QueueError as refusal:
                watcher.refuse(refusal, channel=key)
                self._unsubscribe(watcher, key)


class _Watcher:
    """One browser connection: who it is, what it watches, what waits to be sent to it."""

    def __init__(
        self, ws: web.WebSocketResponse, principal: Principal, token: str, limit: int
    ) -> None:
        self.ws = ws
        self.principal = principal
        self.token = token
        self.limit = limit
        self.channels: dict[str, Channel] = {}
        self.seen: dict[str, int] = {}  # last seq offered per channel
        self.delivered: dict[str, int] = {}  # last seq sent per channel (replay after resync)
        self.outbox: OrderedDict[Hashable, tuple[str | None, int, str]] = OrderedDict()
        self.overflowed = False
        self.wake = asyncio.Event()
        self._numbers = count()

    def offer(self, key: Hashable, text: str, *, channel: str | None = None, seq: int = 0) -> None:
        """Queue a message; a status update replaces the one still waiting for its channel."""
        if self.overflowed:
            return
        if key in self.outbox:
            self.outbox[key] = (channel, seq, text)
            self.outbox.move_to_end(key)
        elif len(self.outbox) >= self.limit:
            self.overflowed = True
            self.outbox.clear()
        else:
            self.outbox[key] = (channel, seq, text)
        self.wake.set()

    def say(self, type_: str, seq: int, data: Any, channel: str | None = None) -> None:
        self.offer(("say", next(self._numbers)), _text(channel, type_, seq, _dumps(data)))

    def refuse(self, refusal: QueueError, channel: str | None = None) -> None:
        self.say("error", 0, refusal.as_json()["error"], channel=channel)


class _Unauthorized(Exception):
    """The token no longer names anyone (a staff session ended): the socket closes."""


def _channel_names(message: dict[str, Any]) -> list[str]:
    names = message.get("channels")
    if names is None and "channel" in message:
        names = [message["channel"]]
    if not isinstance(names, list) or not names or len(names) > MAX_CHANNELS:
        raise QueueError("invalid_request", f"channels is a list of 1 to {MAX_CHANNELS} names")
    if not all(isinstance(n, str) for n in names):
        raise QueueError("invalid_request", "a channel is a string like area:<id>")
    return names


def _after(message: dict[str, Any]) -> int | None:
    after = message.get("after")
    if after is None:
        return None
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        raise QueueError("invalid_request", "after is an event sequence number")
    return after


def _identity(principal: Principal) -> dict[str, str]:
    return {
        "kind": principal.kind,
        "id": principal.id,
        "area": principal.area,
        "window": principal.window,
    }


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _text(channel: str | None, type_: str, seq: int, data: str) -> str:
    """A message with its data already serialised (once for all watchers)."""
    return f'{{"channel":{_dumps(channel)},"type":"{type_}","seq":{seq},"data":{data}}}'


RELAY = web.AppKey("live_relay", Relay)
