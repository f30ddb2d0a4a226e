"""The queue engine: every operation of the hall's queue, each one transaction with its events."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import sqlite3
from typing import Any, Literal

from edge.clock import Clock, SystemClock
from edge.queue.errors import QueueError
from edge.queue.hall import HallIndex, LocalMoment
from edge.queue.ordering import next_ticket, waiting_list
from edge.queue.store import Store, Transaction
from edge.queue.views import ticket_view, window_view
from sync.hallsetup import Booking, BusinessType, HallSetup, StaffMember, Window
from sync.idnumber import InvalidIdNumber, age_on, validate_id_number
from sync.ids import new_id
from sync.numbering import format_ticket_number

__all__ = ["EVALUATION_LEVELS", "QueueEngine", "Source"]

Source = Literal["kiosk", "staff", "booking", "remote", "supplement"]
EVALUATION_LEVELS = ("very_satisfied", "satisfied", "basic", "dissatisfied")
_LOGGED_IN = ("open", "paused", "backstage")


class QueueEngine:
    """The queue of one hall over its SQLite database; the single writer of that database."""

    def __init__(self, conn: sqlite3.Connection, clock: Clock | None = None) -> None:
        self.store = Store(conn)
        self.conn = conn
        self.clock: Clock = clock or SystemClock()
        self._hall: HallIndex | None = None
        row = conn.execute("SELECT body FROM hall_setup ORDER BY version DESC LIMIT 1").fetchone()
        if row is not None:
            self._hall = HallIndex(HallSetup.model_validate_json(row["body"]))

    # ----------------------------------------------------------------- configuration

    @property
    def hall(self) -> HallIndex:
        if self._hall is None:
            raise QueueError("no_setup")
        return self._hall

    @property
    def configured(self) -> bool:
        return self._hall is not None

    def apply_setup(self, setup: HallSetup) -> dict[str, Any]:
        """Apply a configuration version atomically; windows that lose their staff are closed."""
        index = HallIndex(setup)
        now = self.clock.now_ms()

        def body(tx: Transaction) -> dict[str, Any]:
            current = tx.one("SELECT max(version) AS v FROM hall_setup")
            if current is not None and current["v"] is not None and current["v"] >= setup.version:
                raise QueueError(
                    "invalid_setup", f"version {setup.version} is not newer than {current['v']}"
                )
            tx.run(
                "INSERT INTO hall_setup (version, body, applied_at) VALUES (?, ?, ?)",
                (setup.version, setup.model_dump_json(), now),
            )
            for state in tx.all("SELECT * FROM window_state WHERE staff IS NOT NULL"):
                if state["window"] not in index.windows or state["staff"] not in index.staff:
                    self._close_removed_window(tx, state)
            tx.event("config.applied", {"version": setup.version, "hall": setup.hall.id})
            return {"version": setup.version}

        result = self.store.write(now, "applySetup", body)
        self._hall = index
        return result

    def load_bookings(self, bookings: list[Booking]) -> int:
        """Replace or add the local copy of bookings (the cloud's, or the demo's seed)."""
        now = self.clock.now_ms()
        with self.store.transaction(now) as tx:
            for b in bookings:
                tx.run(
                    "INSERT INTO bookings (id, code, name, phone, id_number, business_type, date, "
                    "slot_start, slot_end, status) VALUES (?,?,?,?,?,?,?,?,?,?) "
                    "ON CONFLICT (id) DO UPDATE SET code = excluded.code, name = excluded.name, "
                    "phone = excluded.phone, id_number = excluded.id_number, "
                    "business_type = excluded.business_type, date = excluded.date, "
                    "slot_start = excluded.slot_start, slot_end = excluded.slot_end, "
                    "status = CASE WHEN bookings.status = 'checked_in' "
                    "THEN bookings.status ELSE excluded.status END",
                    (
                        b.id,
                        b.code,
                        b.name,
                        b.phone,
                        b.id_number,
                        b.business_type,
                        b.date.isoformat(),
                        b.slot_start.isoformat("minutes"),
                        b.slot_end.isoformat("minutes"),
                        b.status,
                    ),
                )
        return len(bookings)

    # ----------------------------------------------------------------- kiosk

    def list_services(self, area: str) -> list[dict[str, Any]]:
        """What a kiosk in `area` offers: every type with its waiting count and availability."""
        hall = self.hall
        if area not in hall.areas:
            raise QueueError("unknown_area")
        at = hall.local(self.clock.now_ms())
        waiting = dict(
            self.conn.execute(
                "SELECT business_type, count(*) FROM tickets WHERE status = 'waiting' AND day = ? "
                "AND area = ? GROUP BY business_type",
                (at.day_text, area),
            ).fetchall()
        )
        open_windows = self._open_windows(area)
        committed = self._committed(at.day_text)
        popularity = dict(
            self.conn.execute(
                "SELECT business_type, count(*) FROM tickets WHERE day >= ? GROUP BY business_type",
                ((at.day - dt.timedelta(days=30)).isoformat(),),
            ).fetchall()
        )
        services = []
        for type_id in hall.area_types[area]:
            t = hall.types[type_id]
            windows = open_windows.get(type_id, [])
            reason = self._unavailable(t, at, windows, committed.get(type_id, 0))
            services.append(
                {
                    "id": t.id,
                    "name": t.name,
                    "prefix": t.prefix,
                    "category": t.category,
                    "category_name": hall.categories[t.category].name,
                    "department": t.department,
                    "pinyin": t.pinyin,
                    "description": t.description,
                    "waiting": waiting.get(type_id, 0),
                    "windows": windows,
                    "available": reason is None,
                    "unavailable_reason": reason,
                    "popularity": popularity.get(type_id, 0),
                }
            )
        return services

    def issue_ticket(
        self,
        *,
        area: str,
        business_type: str,
        source: Source,
        actor: str,
        green_channel: bool = False,
        phone: str = "",
        id_number: str = "",
        key: str | None = None,
    ) -> dict[str, Any]:
        """Take a ticket (§4.1.3): from a kiosk, by staff for a citizen, or remotely."""
        hall = self.hall
        t = self._type_in_area(area, business_type)
        now = self.clock.now_ms()
        at = hall.local(now)
        id_number = _valid_id_number(id_number)
        age_limit = hall.hall.green_channel_age
        by_age = bool(id_number and age_limit and age_on(id_number, at.day) >= age_limit)
        green_channel = green_channel or by_age

        def body(tx: Transaction) -> dict[str, Any]:
            windows = self._open_windows(area).get(t.id, [])
            committed = self._committed(at.day_text).get(t.id, 0)
            reason = self._unavailable(t, at, windows, committed)
            if reason is not None:
                raise QueueError(reason, business_type=t.id)
            kind = "green" if green_channel else "normal"
            return self._new_ticket(
                tx,
                at,
                area=area,
                t=t,
                source=source,
                kind=kind,
                priority=1 if green_channel else 0,
                order_at=now,
                windows=windows,
                phone=phone,
                id_number=id_number,
                actor=actor,
            )

        return self.store.write(now, "issueTicket", body, principal=actor, key=key)

    def check_in_booking(
        self,
        *,
        area: str,
        actor: str,
        phone: str = "",
        id_number: str = "",
        code: str = "",
        key: str | None = None,
    ) -> dict[str, Any]:
        """Turn today's booking into a ticket with priority from its slot start (§1.5, §4.1.4)."""
        hall = self.hall
        if area not in hall.areas:
            raise QueueError("unknown_area")
        if not (phone or id_number or code):
            raise QueueError("invalid_request", "phone, id_number or code is required")
        id_number = _valid_id_number(id_number)
        now = self.clock.now_ms()
        at = hall.local(now)

        def body(tx: Transaction) -> dict[str, Any]:
            if not hall.hall_open(at):
                raise QueueError("outside_hall_hours")
            booking = self._find_booking(tx, at, area, phone=phone, id_number=id_number, code=code)
            t = hall.types[booking["business_type"]]
            slot_start = hall.local_ms(at.day, dt.time.fromisoformat(booking["slot_start"]))
            slot_end = hall.local_ms(at.day, dt.time.fromisoformat(booking["slot_end"]))
            late = now >= slot_end
            ticket = self._new_ticket(
                tx,
                at,
                area=area,
                t=t,
                source="booking",
                kind="booking",
                priority=0 if late else 1,
                order_at=now if late else max(now, slot_start),
                windows=self._open_windows(area).get(t.id, []),
                phone=booking["phone"],
                id_number=booking["id_number"],
                actor=actor,
                booking_id=booking["id"],
            )
            tx.run(
                "UPDATE bookings SET status = 'checked_in', ticket_id = ? WHERE id = ?",
                (ticket["id"], booking["id"]),
            )
            tx.event(
                "booking.checked_in",
                {"booking": booking["id"], "ticket": ticket["id"], "late": late},
            )
            return {**ticket, "booking": {"id": booking["id"], "late": late}}

        return self.store.write(now, "checkInBooking", body, principal=actor, key=key)

    def return_for_supplement(
        self, *, area: str, code: str, actor: str, key: str | None = None
    ) -> dict[str, Any]:
        """A citizen comes back with the missing papers: a ticket for the same staff member."""
        hall = self.hall
        if area not in hall.areas:
            raise QueueError("unknown_area")
        now = self.clock.now_ms()
        at = hall.local(now)

        def body(tx: Transaction) -> dict[str, Any]:
            if not hall.hall_open(at):
                raise QueueError("outside_hall_hours")
            row = tx.one(
                "SELECT * FROM supplements WHERE code = ? AND used_by IS NULL AND expires_on >= ?",
                (code.strip(), at.day_text),
            )
            if row is None or row["business_type"] not in hall.types:
                raise QueueError("supplement_not_found")
            original = tx.one(
                "SELECT phone, id_number FROM tickets WHERE id = ?", (row["ticket_id"],)
            )
            ticket = self._new_ticket(
                tx,
                at,
                area=area,
                t=hall.types[row["business_type"]],
                source="supplement",
                kind="supplement",
                priority=2,
                order_at=now,
                windows=self._staff_windows(row["staff"]),
                phone=original["phone"] if original else "",
                id_number=original["id_number"] if original else "",
                actor=actor,
                assigned_staff=row["staff"],
            )
            tx.run("UPDATE supplements SET used_by = ? WHERE code = ?", (ticket["id"], row["code"]))
            return ticket

        return self.store.write(now, "returnForSupplement", body, principal=actor, key=key)

    # ----------------------------------------------------------------- windows

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
            tx.event("window.login", self._window_event(tx, window.id))
            return {"token": token, "window": self._window_status(tx, window.id)}

        return self.store.write(now, "windowLogin", body)

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
            tx.run("UPDATE tickets SET call_count = call_count + 1 WHERE id = ?", (ticket["id"],))
            tx.event("ticket.recalled", self._ticket_event(tx, ticket["id"]))

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
            target = self._type_in_area(window.area, business_type)
            if target.id == ticket["business_type"]:
                raise QueueError("same_business_type")
            at = self.hall.local(tx.now_ms)
            tx.run(
                "UPDATE tickets SET status = 'waiting', business_type = ?, category = ?, "
                "priority = ?, order_at = ?, window = NULL, transfers = transfers + 1, "
                "duration_warned = 0 WHERE id = ?",
                (target.id, target.category, 1 if priority else 0, tx.now_ms, ticket["id"]),
            )
            self._count(tx, at.day_text, target.id, +1)
            self._release_window(tx, window_id)
            payload = self._ticket_event(tx, ticket["id"])
            tx.event(
                "ticket.transferred",
                {**payload, "from_type": ticket["business_type"], "with_priority": priority},
            )
            self._check_waiting_warning(tx, at, target.category)

        return self._window_op("transferTicket", window_id, actor, key, change)

    def supplement(self, window_id: str, actor: str, key: str | None = None) -> dict[str, Any]:
        """补证补件: park the ticket; its code brings the citizen back to the same staff member."""
        result: dict[str, Any] = {}

        def change(tx: Transaction, state: sqlite3.Row) -> None:
            ticket = self._current(tx, state)
            at = self.hall.local(tx.now_ms)
            code = self._new_supplement_code(tx)
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
            payload = self._ticket_event(tx, ticket["id"])
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
            self._count(tx, ticket["day"], ticket["business_type"], -1)
            self._release_window(tx, window_id)
            tx.event("ticket.abandoned", self._ticket_event(tx, ticket["id"]))

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
            payload = self._ticket_event(tx, ticket_id)
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
            self._count(tx, ticket["day"], ticket["business_type"], -1)
            payload = self._ticket_event(tx, ticket_id)
            tx.event("ticket.void", payload)
            return {"ticket": payload["ticket"]}

        return self.store.write(now, "voidTicket", body, principal=actor, key=key)

    # ----------------------------------------------------------------- reads

    def window_status(self, window_id: str) -> dict[str, Any]:
        self._window(window_id)
        return self._window_status(self.conn, window_id)

    def waiting_for_window(
        self, window_id: str, search: str = "", limit: int = 1000
    ) -> list[dict[str, Any]]:
        """The tickets a window would call, in calling order (the staff client's 等候列表)."""
        window = self._window(window_id)
        now = self.clock.now_ms()
        at = self.hall.local(now)
        state = self.conn.execute(
            "SELECT staff FROM window_state WHERE window = ?", (window_id,)
        ).fetchone()
        staff_id = state["staff"] if state else None
        staff = self.hall.staff.get(staff_id) if staff_id else None
        rows = waiting_list(
            self.conn,
            day=at.day_text,
            now=now,
            area=window.area,
            types=self.hall.serving_types(window, staff),
            staff=staff_id,
            limit=limit if not search else 100_000,
        )
        views = [ticket_view(r, self.hall) for r in rows]
        return _search(views, search)[:limit]

    def called_by_window(
        self, window_id: str, search: str = "", limit: int = 200
    ) -> list[dict[str, Any]]:
        """Today's tickets this window called, latest first (the staff client's 已呼叫)."""
        self._window(window_id)
        day = self.hall.local(self.clock.now_ms()).day_text
        rows = self.conn.execute(
            "SELECT tickets.* FROM calls JOIN tickets ON tickets.id = calls.ticket_id "
            "WHERE calls.window = ? AND calls.day = ? ORDER BY calls.at DESC, calls.id DESC",
            (window_id, day),
        ).fetchall()
        return _search([ticket_view(r, self.hall) for r in rows], search)[:limit]

    def queue_status(self, area: str, latest: int = 10) -> dict[str, Any]:
        """What the central display shows (§4.2.2): per type waiting and next, latest calls."""
        hall = self.hall
        if area not in hall.areas:
            raise QueueError("unknown_area")
        now = self.clock.now_ms()
        at = hall.local(now)
        services = []
        for s in self.list_services(area):
            head = next_ticket(
                self.conn, day=at.day_text, now=now, area=area, types=[s["id"]], staff=None
            )
            services.append(
                {
                    "id": s["id"],
                    "name": s["name"],
                    "waiting": s["waiting"],
                    "next": head["number"] if head else None,
                    "available": s["available"],
                }
            )
        calls = self.conn.execute(
            "SELECT * FROM tickets WHERE area = ? AND day = ? AND called_at IS NOT NULL "
            "AND status != 'waiting' ORDER BY called_at DESC LIMIT ?",
            (area, at.day_text, latest),
        ).fetchall()
        windows = [
            self._window_status(self.conn, w.id) for w in hall.windows.values() if w.area == area
        ]
        return {
            "area": {"id": area, "name": hall.areas[area].name},
            "day": at.day_text,
            "services": services,
            "latest_calls": [ticket_view(r, hall) for r in calls],
            "windows": windows,
        }

    def ticket(self, ticket_id: str) -> dict[str, Any]:
        row = self.conn.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
        if row is None:
            raise QueueError("unknown_ticket")
        return ticket_view(row, self.hall)

    # ----------------------------------------------------------------- timers

    def tick(self) -> list[str]:
        """Run what time triggers: auto-call, duration warnings, yesterday's tickets expiring.

        Returns the windows that were auto-called. Called every second by the node.
        """
        if self._hall is None:
            return []
        hall = self._hall
        now = self.clock.now_ms()
        at = hall.local(now)
        called: list[str] = []
        with self.store.transaction(now) as tx:
            self._expire_old_days(tx, at)
            self._duration_warnings(tx)
        seconds = hall.hall.auto_call_seconds
        if seconds > 0:
            due = self.conn.execute(
                "SELECT window FROM window_state WHERE status = 'open' AND current_ticket IS NULL "
                "AND since <= ? AND (gate_until IS NULL OR gate_until <= ?)",
                (now - seconds * 1000, now),
            ).fetchall()
            for row in due:
                try:
                    with self.store.transaction(now) as tx:
                        state = tx.one("SELECT * FROM window_state WHERE window = ?", (row[0],))
                        if state is not None and row[0] in hall.windows:
                            self._call_next(tx, row[0], state, auto=True)
                            called.append(row[0])
                except QueueError:
                    continue
        return called

    # ----------------------------------------------------------------- helpers

    def _window(self, window_id: str) -> Window:
        window = self.hall.windows.get(window_id)
        if window is None:
            raise QueueError("unknown_window")
        return window

    def _type_in_area(self, area: str, type_id: str) -> BusinessType:
        hall = self.hall
        if area not in hall.areas:
            raise QueueError("unknown_area")
        t = hall.types.get(type_id)
        if t is None:
            raise QueueError("unknown_business_type")
        if type_id not in hall.area_types[area]:
            raise QueueError("type_not_in_area")
        return t

    def _open_windows(self, area: str) -> dict[str, list[str]]:
        """Per business type, the numbers of the logged-in windows of `area` that serve it."""
        hall = self.hall
        result: dict[str, list[str]] = {}
        rows = self.conn.execute(
            "SELECT window, staff FROM window_state WHERE status IN ('open','paused','backstage')"
        ).fetchall()
        for row in sorted(rows, key=lambda r: str(r["window"])):
            window = hall.windows.get(row["window"])
            if window is None or window.area != area:
                continue
            for type_id in hall.serving_types(window, hall.staff.get(row["staff"])):
                result.setdefault(type_id, []).append(window.number)
        return result

    def _staff_windows(self, staff_id: str) -> list[str]:
        row = self.conn.execute(
            "SELECT window FROM window_state WHERE staff = ?", (staff_id,)
        ).fetchone()
        window = self.hall.windows.get(row["window"]) if row else None
        return [window.number] if window else []

    def _committed(self, day: str) -> dict[str, int]:
        return dict(
            self.conn.execute(
                "SELECT business_type, committed FROM daily_counts WHERE day = ?", (day,)
            ).fetchall()
        )

    def _unavailable(
        self, t: BusinessType, at: LocalMoment, windows: list[str], committed: int
    ) -> str | None:
        """Which of the four cases of §4.1.2 hides a type from the kiosk, if any."""
        if not windows:
            return "no_window_open"
        if t.daily_cap is not None and committed >= t.daily_cap:
            return "daily_cap_reached"
        if not self.hall.type_in_hours(t, at):
            return "outside_service_hours"
        if not self.hall.hall_open(at):
            return "outside_hall_hours"
        return None

    def _new_ticket(
        self,
        tx: Transaction,
        at: LocalMoment,
        *,
        area: str,
        t: BusinessType,
        source: str,
        kind: str,
        priority: int,
        order_at: int,
        windows: list[str],
        phone: str,
        id_number: str,
        actor: str,
        booking_id: str | None = None,
        assigned_staff: str | None = None,
    ) -> dict[str, Any]:
        row = tx.one(
            "INSERT INTO number_sequences (day, prefix, last) VALUES (?, ?, 1) "
            "ON CONFLICT (day, prefix) DO UPDATE SET last = last + 1 RETURNING last",
            (at.day_text, t.prefix),
        )
        assert row is not None
        number = format_ticket_number(t.prefix, row[0])
        waiting = tx.one(
            "SELECT count(*) FROM tickets WHERE status = 'waiting' AND day = ? AND area = ? "
            "AND business_type = ?",
            (at.day_text, area, t.id),
        )
        ticket_id = new_id()
        tx.run(
            "INSERT INTO tickets (id, day, number, area, business_type, category, source, kind, "
            "status, priority, order_at, issued_at, waiting_at_issue, serving_windows, "
            "booking_id, assigned_staff, phone, id_number, issued_by) "
            "VALUES (?,?,?,?,?,?,?,?,'waiting',?,?,?,?,?,?,?,?,?,?)",
            (
                ticket_id,
                at.day_text,
                number,
                area,
                t.id,
                t.category,
                source,
                kind,
                priority,
                order_at,
                at.ms,
                waiting[0] if waiting else 0,
                json.dumps(windows),
                booking_id,
                assigned_staff,
                phone,
                id_number,
                actor,
            ),
        )
        self._count(tx, at.day_text, t.id, +1)
        payload = self._ticket_event(tx, ticket_id)
        tx.event("ticket.issued", payload)
        self._check_waiting_warning(tx, at, t.category)
        issued: dict[str, Any] = payload["ticket"]
        return issued

    def _count(self, tx: Transaction, day: str, type_id: str, delta: int) -> None:
        tx.run(
            "INSERT INTO daily_counts (day, business_type, committed) VALUES (?, ?, ?) "
            "ON CONFLICT (day, business_type) DO UPDATE SET committed = committed + ?",
            (day, type_id, max(delta, 0), delta),
        )

    def _find_booking(
        self, tx: Transaction, at: LocalMoment, area: str, *, phone: str, id_number: str, code: str
    ) -> sqlite3.Row:
        if code:
            rows = tx.all("SELECT * FROM bookings WHERE code = ?", (code.strip(),))
        elif id_number:
            rows = tx.all(
                "SELECT * FROM bookings WHERE date = ? AND id_number = ? ORDER BY slot_start",
                (at.day_text, id_number.strip().upper()),
            )
        else:
            rows = tx.all(
                "SELECT * FROM bookings WHERE date = ? AND phone = ? ORDER BY slot_start",
                (at.day_text, phone.strip()),
            )
        rows = [
            r
            for r in rows
            if r["date"] == at.day_text and r["business_type"] in self.hall.area_types[area]
        ]
        for status, error in (("booked", None), ("checked_in", "booking_already_checked_in")):
            for r in rows:
                if r["status"] == status:
                    if error:
                        raise QueueError(error)
                    return r
        if rows:
            raise QueueError("booking_cancelled")
        raise QueueError("booking_not_found")

    def _new_supplement_code(self, tx: Transaction) -> str:
        while True:
            code = f"{secrets.randbelow(10**6):06d}"
            if tx.one("SELECT 1 FROM supplements WHERE code = ?", (code,)) is None:
                return code

    def _window_op(
        self,
        operation: str,
        window_id: str,
        actor: str,
        key: str | None,
        change: Any,
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
            "call_count = 1 WHERE id = ?",
            (window_id, staff_id, tx.now_ms, row["id"]),
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
        payload = self._ticket_event(tx, row["id"])
        tx.event("ticket.called", {**payload, "auto": auto})
        self._check_waiting_warning(tx, at, row["category"])

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
        payload = self._ticket_event(tx, ticket["id"])
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

    def _check_waiting_warning(self, tx: Transaction, at: LocalMoment, category: str) -> None:
        """Raise or clear the category's waiting warning when the count crosses its threshold."""
        threshold = self.hall.categories[category].waiting_warning
        if threshold is None:
            return
        row = tx.one(
            "SELECT count(*) FROM tickets WHERE status = 'waiting' AND day = ? AND category = ?",
            (at.day_text, category),
        )
        waiting = row[0] if row else 0
        key = f"waiting:{at.day_text}:{category}"
        active_row = tx.one("SELECT active FROM warnings WHERE key = ?", (key,))
        active = bool(active_row and active_row[0])
        over = waiting > threshold
        if over != active:
            tx.run(
                "INSERT INTO warnings (key, active) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET active = excluded.active",
                (key, int(over)),
            )
            tx.event(
                "warning.waiting" if over else "warning.waiting_cleared",
                {"category": category, "waiting": waiting, "threshold": threshold},
            )

    def _duration_warnings(self, tx: Transaction) -> None:
        hall = self.hall
        for row in tx.all(
            "SELECT id, business_type, called_at FROM tickets "
            "WHERE status = 'called' AND duration_warned = 0"
        ):
            t = hall.types.get(row["business_type"])
            limit = t.duration_warning_seconds if t else None
            if limit is not None and tx.now_ms - row["called_at"] > limit * 1000:
                tx.run("UPDATE tickets SET duration_warned = 1 WHERE id = ?", (row["id"],))
                payload = self._ticket_event(tx, row["id"])
                tx.event("warning.duration", {**payload, "threshold_seconds": limit})

    def _expire_old_days(self, tx: Transaction, at: LocalMoment) -> None:
        """Tickets are valid for their business day only (§4.1.3)."""
        stale = tx.all(
            "SELECT id FROM tickets WHERE day < ? AND status IN ('waiting', 'called')",
            (at.day_text,),
        )
        for row in stale:
            tx.run("UPDATE tickets SET status = 'expired' WHERE id = ?", (row["id"],))
            tx.run(
                "UPDATE window_state SET current_ticket = NULL WHERE current_ticket = ?",
                (row["id"],),
            )
            tx.event("ticket.expired", {"ticket": {"id": row["id"]}})

    def _ticket_event(self, tx: Transaction, ticket_id: str) -> dict[str, Any]:
        row = tx.one("SELECT * FROM tickets WHERE id = ?", (ticket_id,))
        assert row is not None
        return {"ticket": ticket_view(row, self.hall)}

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


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _valid_id_number(value: str) -> str:
    if not value:
        return ""
    try:
        return validate_id_number(value)
    except InvalidIdNumber as exc:
        raise QueueError("invalid_id_number", str(exc)) from exc


def _search(views: list[dict[str, Any]], search: str) -> list[dict[str, Any]]:
    needle = search.strip().upper()
    if not needle:
        return views
    return [
        v
        for v in views
        if needle in v["number"] or (v.get("phone_tail") and needle in v["phone_tail"])
    ]
