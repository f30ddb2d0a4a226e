"""What staff do at a window (§4.5.1): log in and out, call, recall, finish, transfer, 补证补件,
abandon, pause, backstage, 一米线, and the citizen's evaluation that closes the loop."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import sqlite3
from collections.abc import Callable
from typing import Any

from edge.clock import Clock
from edge.queue.alerts import check_waiting_warning
from edge.queue.availability import type_in_area
from edge.queue.errors import QueueError
from edge.queue.hall import HallIndex
from edge.queue.ordering import next_ticket
from edge.queue.store import Store, Transaction
from edge.queue.tickets import count, new_supplement_code, ticket_event
from edge.queue.views import ticket_view, window_view
from sync.events import EVALUATION_LEVELS
from sync.hallsetup import StaffMember, Window

__all__ = ["EVALUATION_LEVELS", "CounterOperations"]

_LOGGED_IN = ("open", "paused", "backstage")

Change = Callable[[Transaction, sqlite3.Row], None]


class CounterOperations:
    """The window half of `QueueEngine`; every operation is one transaction with its events."""

    store: Store
    conn: sqlite3.Connection
    clock: Clock
    # per calling area, per business type: the numbers of the logged-in windows serving it
    open_windows_cache: dict[str, dict[str, list[str]]]

    @property
    def hall(self) -> HallIndex:
        raise NotImplementedError

    def window_login(self, window_id: str, staff: StaffMember) -> dict[str, Any]:
        """Open a window for a staff member whose credentials the caller has verified."""
        window = self._window(window_id)
        now = self.clock.now_ms()
        token = secrets.token_urlsafe(32)

        def body(tx: Transaction) -> dict[str, Any]:
            elsewhere = tx.one(
                "SELECT window FROM window_state WHERE staff = ? AND window != ?",
                (staff.id, window.id),
            )
            if elsewhere is not None:
                raise QueueError("staff_logged_in_elsewhere", window=elsewhere["window"])
            state = tx.one("SELECT * FROM window_state WHERE window = ?", (window.id,))
            if state is not None and state["staff"] not in (None, staff.id):
                raise QueueError("window_occupied")
            tx.run(
                "INSERT INTO window_state (window, staff, session, status, since) "
                "VALUES (?, ?, ?, 'open', ?) ON CONFLICT (window) DO UPDATE SET "
                "staff = excluded.staff, session = excluded.session, status = 'open', "
                "since = excluded.since",
                (window.id, staff.id, _digest(token), now),
            )
            self.open_windows_cache.clear()
            tx.event("window.login", self._window_event(tx, window.id))
            return {"token": token, "window": self._window_status(tx, window.id)}

        return self.store.write(now, "windowLogin", body)

    def window_session(self, window_id: str, actor: str) -> dict[str, Any]:
        """A new session for the staff member logged in at the window, for the window's own
        caller PC: a staff card logs in at the window's reader, and the browser there takes
        over. A window keeps one session, so the previous one ends (`window.session`)."""
        window = self._window(window_id)
        now = self.clock.now_ms()
        token = secrets.token_urlsafe(32)

        def body(tx: Transaction) -> dict[str, Any]:
            state = tx.one("SELECT * FROM window_state WHERE window = ?", (window.id,))
            if state is None or state["status"] not in _LOGGED_IN or state["staff"] is None:
                raise QueueError("window_closed")
            tx.run(
                "UPDATE window_state SET session = ? WHERE window = ?", (_digest(token), window.id)
            )
            tx.event(
                "window.session",
                {"window": {"id": window.id}, "staff": {"id": state["staff"]}, "by": actor},
            )
            return {"token": token, "window": self._window_status(tx, window.id)}

        return self.store.write(now, "windowSession", body, principal=actor)

    def session_window(self, token: str) -> tuple[str, str] | None:
        """The (window, staff) a session token belongs to, or None."""
        row = self.conn.execute(
            "SELECT window, staff FROM window_state WHERE session = ?", (_digest(token),)
        ).fetchone()
        return None if row is None else (row["window"], row["staff"])

    def window_logout(self, window_id: str, actor: str, key: str | None = None) -> dict[str, Any]:
        def change(tx: Transaction, state: sqlite3.Row) -> None:
            if state["current_ticket"] is not None:
                raise QueueError("window_busy")
            payload = self._window_event(tx, window_id)
            tx.run(
                "UPDATE window_state SET status = 'closed', staff = NULL, session = NULL, "
                "gate_ticket = NULL, gate_until = NULL, since = ? WHERE window = ?",
                (tx.now_ms, window_id),
            )
            self.open_windows_cache.clear()
            tx.event("window.logout", payload)

        return self._window_op("windowLogout", window_id, actor, key, change)

    def call_next(self, window_id: str, actor: str, key: str | None = None) -> dict[str, Any]:
        """下一位: finish what the window has, then call the first ticket in its order."""

        def change(tx: Transaction, state: sqlite3.Row) -> None:
            self._call_next(tx, window_id, state, auto=False)

        return self._window_op("callNext", window_id, actor, key, change)

    def recall(self, window_id: str, actor: str, key: str | None = None) -> dict[str, Any]:
        def change(tx: Transaction, state: sqlite3.Row) -> None:
            ticket = self._current(tx, state)
            tx.run(
                "UPDATE tickets SET call_count = call_count + 1, last_called_at = ? WHERE id = ?",
                (tx.now_ms, ticket["id"]),
            )
            tx.event("ticket.recalled", ticket_event(tx, self.hall, ticket["id"]))

        return self._window_op("recall", window_id, actor, key, change)

    def finish(
        self,
        window_id: str,
        actor: str,
        *,
        request_evaluation: bool = False,
        key: str | None = None,
    ) -> dict[str, Any]:
        """结束 / 结束并评价; with the one-ticket-one-evaluation gate on, always asks for one."""

        def change(tx: Transaction, state: sqlite3.Row) -> None:
            self._finish_current(tx, window_id, state, request_evaluation)

        return self._window_op("finishTicket", window_id, actor, key, change)

    def transfer(
        self,
        window_id: str,
        actor: str,
        *,
        business_type: str,
        priority: bool,
        key: str | None = None,
    ) -> dict[str, Any]:
        """业务转移 (§4.1.5): the ticket joins another type's queue, with or without priority."""

        def change(tx: Transaction, state: sqlite3.Row) -> None:
            ticket = self._current(tx, state)
            window = self.hall.windows[window_id]
            target = type_in_area(self.hall, window.area, business_type)
            if target.id == ticket["business_type"]:
                raise QueueError("same_business_type")
            at = self.hall.local(tx.now_ms)
            tx.run(
                "UPDATE tickets SET status = 'waiting', business_type = ?, category = ?, "
                "area = ?, priority = ?, order_at = ?, window = NULL, assigned_staff = NULL, "
                "transfers = transfers + 1, duration_warned = 0 WHERE id = ?",
                (
                    target.id,
                    target.category,
                    window.area,  # the citizen stands at this window, in this area
                    1 if priority else 0,
                    tx.now_ms,
                    ticket["id"],
                ),
            )
            count(tx, at.day_text, target.id, +1)
            self._release_window(tx, window_id)
            payload = ticket_event(tx, self.hall, ticket["id"])
            tx.event(
                "ticket.transferred",
                {**payload, "from_type": ticket["business_type"], "with_priority": priority},
            )
            check_waiting_warning(tx, self.hall, at, target.category)

        return self._window_op("transferTicket", window_id, actor, key, change)

    def supplement(self, window_id: str, actor: str, key: str | None = None) -> dict[str, Any]:
        """补证补件: park the ticket; its code brings the citizen back to the same staff member."""
        result: dict[str, Any] = {}

        def change(tx: Transaction, state: sqlite3.Row) -> None:
            ticket = self._current(tx, state)
            at = self.hall.local(tx.now_ms)
            code = new_supplement_code(tx)
            expires = at.day + dt.timedelta(days=self.hall.hall.supplement_valid_days)
            tx.run(
                "INSERT INTO supplements (code, ticket_id, staff, business_type, area, "
                "created_at, expires_on) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    code,
                    ticket["id"],
                    state["staff"],
                    ticket["business_type"],
                    ticket["area"],
                    tx.now_ms,
                    expires.isoformat(),
                ),
            )
            tx.run(
                "UPDATE tickets SET status = 'supplement', finished_at = ? WHERE id = ?",
                (tx.now_ms, ticket["id"]),
            )
            self._release_window(tx, window_id)
            payload = ticket_event(tx, self.hall, ticket["id"])
            tx.event("ticket.supplement", {**payload, "code": code, "expires_on": str(expires)})
            result["supplement"] = {"code": code, "expires_on": expires.isoformat()}

        return {**self._window_op("supplementTicket", window_id, actor, key, change), **result}

    def abandon(self, window_id: str, actor: str, key: str | None = None) -> dict[str, Any]:
        """弃号: the called citizen did not come; the ticket no longer counts towards the cap."""

        def change(tx: Transaction, state: sqlite3.Row) -> None:
            ticket = self._current(tx, state)
            tx.run(
                "UPDATE tickets SET status = 'abandoned', finished_at = ? WHERE id = ?",
                (tx.now_ms, ticket["id"]),
            )
            count(tx, ticket["day"], ticket["business_type"], -1)
            self._release_window(tx, window_id)
            tx.event("ticket.abandoned", ticket_event(tx, self.hall, ticket["id"]))

        return self._window_op("abandonTicket", window_id, actor, key, change)

    def pause(self, window_id: str, actor: str, key: str | None = None) -> dict[str, Any]:
        return self._set_status(window_id, actor, key, "paused", "pauseWindow")

    def resume(self, window_id: str, actor: str, key: str | None = None) -> dict[str, Any]:
        return self._set_status(window_id, actor, key, "open", "resumeWindow")

    def backstage(self, window_id: str, actor: str, key: str | None = None) -> dict[str, Any]:
        return self._set_status(window_id, actor, key, "backstage", "startBackstage")

    def one_meter_line(self, window_id: str, actor: str, key: str | None = None) -> dict[str, Any]:
        """一米线: ask the next citizen to wait behind the line; a prompt, no state change."""

        def change(tx: Transaction, state: sqlite3.Row) -> None:
            tx.event("window.one_meter_line", self._window_event(tx, window_id))

        return self._window_op("promptOneMeterLine", window_id, actor, key, change)

    def evaluate(
        self, ticket_id: str, level: str, actor: str, key: str | None = None
    ) -> dict[str, Any]:
        """The citizen's evaluation on the Pad; a resend of the same evaluation is accepted once."""
        if level not in EVALUATION_LEVELS:
            raise QueueError("invalid_request", f"level must be one of {EVALUATION_LEVELS}")
        now = self.clock.now_ms()

        def body(tx: Transaction) -> dict[str, Any]:
            ticket = tx.one("SELECT * FROM tickets WHERE id = ?", (ticket_id,))
            if ticket is None:
                raise QueueError("unknown_ticket")
            if ticket["evaluation"] is not None:
                if ticket["evaluation"] == level:
                    return {"ticket": ticket_view(ticket, self.hall)}
                raise QueueError("already_evaluated")
            if not ticket["evaluation_requested"]:
                raise QueueError("evaluation_not_requested")
            tx.run(
                "UPDATE tickets SET evaluation = ?, evaluated_at = ? WHERE id = ?",
                (level, now, ticket_id),
            )
            tx.run(
                "UPDATE window_state SET gate_ticket = NULL, gate_until = NULL "
                "WHERE gate_ticket = ?",
                (ticket_id,),
            )
            payload = ticket_event(tx, self.hall, ticket_id)
            tx.event("ticket.evaluated", {**payload, "level": level})
            return {"ticket": payload["ticket"]}

        return self.store.write(now, "submitEvaluation", body, principal=actor, key=key)

    def void_ticket(self, ticket_id: str, actor: str, key: str | None = None) -> dict[str, Any]:
        """废号: an administrator withdraws a waiting ticket."""
        now = self.clock.now_ms()

        def body(tx: Transaction) -> dict[str, Any]:
            ticket = tx.one("SELECT * FROM tickets WHERE id = ?", (ticket_id,))
            if ticket is None:
                raise QueueError("unknown_ticket")
            if ticket["status"] != "waiting":
                raise QueueError("invalid_request", "only a waiting ticket can be voided")
            tx.run(
                "UPDATE tickets SET status = 'void', finished_at = ? WHERE id = ?", (now, ticket_id)
            )
            count(tx, ticket["day"], ticket["business_type"], -1)
            payload = ticket_event(tx, self.hall, ticket_id)
            tx.event("ticket.void", payload)
            return {"ticket": payload["ticket"]}

        return self.store.write(now, "voidTicket", body, principal=actor, key=key)

    def require_window(self, window_id: str) -> Window:
        """The configured window, or the refusal `unknown_window`."""
        return self._window(window_id)

    def _window(self, window_id: str) -> Window:
        window = self.hall.windows.get(window_id)
        if window is None:
            raise QueueError("unknown_window")
        return window

    def _window_op(
        self,
        operation: str,
        window_id: str,
        actor: str,
        key: str | None,
        change: Change,
    ) -> dict[str, Any]:
        self._window(window_id)
        now = self.clock.now_ms()

        def body(tx: Transaction) -> dict[str, Any]:
            state = tx.one("SELECT * FROM window_state WHERE window = ?", (window_id,))
            if state is None or state["status"] not in _LOGGED_IN:
                raise QueueError("window_closed")
            change(tx, state)
            return {"window": self._window_status(tx, window_id)}

        return self.store.write(now, operation, body, principal=actor, key=key)

    def _set_status(
        self, window_id: str, actor: str, key: str | None, status: str, operation: str
    ) -> dict[str, Any]:
        def change(tx: Transaction, state: sqlite3.Row) -> None:
            if state["status"] == status:
                return
            tx.run(
                "UPDATE window_state SET status = ?, since = ? WHERE window = ?",
                (status, tx.now_ms, window_id),
            )
            event = {"open": "window.resumed", "paused": "window.paused"}.get(
                status, "window.backstage"
            )
            tx.event(event, self._window_event(tx, window_id))

        return self._window_op(operation, window_id, actor, key, change)

    def _current(self, tx: Transaction, state: sqlite3.Row) -> sqlite3.Row:
        if state["current_ticket"] is None:
            raise QueueError("no_current_ticket")
        ticket = tx.one("SELECT * FROM tickets WHERE id = ?", (state["current_ticket"],))
        if ticket is None or ticket["status"] != "called":
            raise QueueError("no_current_ticket")
        return ticket

    def _call_next(
        self, tx: Transaction, window_id: str, state: sqlite3.Row, *, auto: bool
    ) -> None:
        hall = self.hall
        window = hall.windows[window_id]
        at = hall.local(tx.now_ms)
        if state["current_ticket"] is not None:
            if hall.hall.evaluation_gate:
                raise QueueError("window_busy", "请先结束当前业务并请求评价")
            self._finish_current(tx, window_id, state, False)
            refreshed = tx.one("SELECT * FROM window_state WHERE window = ?", (window_id,))
            assert refreshed is not None
            state = refreshed
        gate_until = state["gate_until"]
        if state["gate_ticket"] is not None and gate_until is not None and tx.now_ms < gate_until:
            raise QueueError(
                "evaluation_pending", seconds_left=-(-(gate_until - tx.now_ms) // 1000)
            )
        staff_id = state["staff"]
        types = hall.serving_types(window, hall.staff.get(staff_id))
        row = next_ticket(
            tx.conn, day=at.day_text, now=tx.now_ms, area=window.area, types=types, staff=staff_id
        )
        if row is None:
            raise QueueError("queue_empty")
        tx.run(
            "UPDATE tickets SET status = 'called', window = ?, staff = ?, called_at = ?, "
            "last_called_at = ?, call_count = 1 WHERE id = ?",
            (window_id, staff_id, tx.now_ms, tx.now_ms, row["id"]),
        )
        tx.run(
            "INSERT INTO calls (ticket_id, window, staff, day, at) VALUES (?, ?, ?, ?, ?)",
            (row["id"], window_id, staff_id, at.day_text, tx.now_ms),
        )
        tx.run(
            "UPDATE window_state SET current_ticket = ?, status = 'open', since = ?, "
            "gate_ticket = NULL, gate_until = NULL WHERE window = ?",
            (row["id"], tx.now_ms, window_id),
        )
        payload = ticket_event(tx, self.hall, row["id"])
        tx.event("ticket.called", {**payload, "auto": auto})
        check_waiting_warning(tx, self.hall, at, row["category"])

    def _finish_current(
        self, tx: Transaction, window_id: str, state: sqlite3.Row, request_evaluation: bool
    ) -> None:
        ticket = self._current(tx, state)
        gate = self.hall.hall.evaluation_gate
        requested = request_evaluation or gate
        tx.run(
            "UPDATE tickets SET status = 'finished', finished_at = ?, evaluation_requested = ? "
            "WHERE id = ?",
            (tx.now_ms, 1 if requested else 0, ticket["id"]),
        )
        self._release_window(tx, window_id)
        if gate:
            tx.run(
                "UPDATE window_state SET gate_ticket = ?, gate_until = ? WHERE window = ?",
                (
                    ticket["id"],
                    tx.now_ms + self.hall.hall.evaluation_gate_seconds * 1000,
                    window_id,
                ),
            )
        payload = ticket_event(tx, self.hall, ticket["id"])
        tx.event("ticket.finished", {**payload, "evaluation_requested": requested})

    def _close_removed_window(self, tx: Transaction, state: sqlite3.Row) -> None:
        """A new configuration dropped the window or its staff: the citizen there goes back to
        the front of the queue and the window closes."""
        ticket_id = state["current_ticket"]
        if ticket_id is not None:
            tx.run(
                "UPDATE tickets SET status = 'waiting', window = NULL, priority = 1, "
                "order_at = called_at WHERE id = ? AND status = 'called'",
                (ticket_id,),
            )
            tx.event("ticket.requeued", {"ticket": {"id": ticket_id}, "window": state["window"]})
        tx.run(
            "UPDATE window_state SET status = 'closed', staff = NULL, session = NULL, "
            "current_ticket = NULL, gate_ticket = NULL, gate_until = NULL WHERE window = ?",
            (state["window"],),
        )

    def _release_window(self, tx: Transaction, window_id: str) -> None:
        tx.run(
            "UPDATE window_state SET current_ticket = NULL, since = ? WHERE window = ?",
            (tx.now_ms, window_id),
        )

    def _window_event(self, tx: Transaction, window_id: str) -> dict[str, Any]:
        return {"window": self._window_status(tx, window_id)}

    def _window_status(
        self, db: Transaction | sqlite3.Connection, window_id: str
    ) -> dict[str, Any]:
        conn = db.conn if isinstance(db, Transaction) else db
        state = conn.execute("SELECT * FROM window_state WHERE window = ?", (window_id,)).fetchone()
        current = None
        if state is not None and state["current_ticket"] is not None:
            current = conn.execute(
                "SELECT * FROM tickets WHERE id = ?", (state["current_ticket"],)
            ).fetchone()
        return window_view(
            self.hall, self.hall.windows[window_id], state, current, self.clock.now_ms()
        )

    def _staff_windows(self, staff_id: str) -> list[str]:
        row = self.conn.execute(
            "SELECT window FROM window_state WHERE staff = ?", (staff_id,)
        ).fetchone()
        window = self.hall.windows.get(row["window"]) if row else None
        return [window.number] if window else []


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
