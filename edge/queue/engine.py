"""The queue engine of one hall: configuration, the kiosk's side, reads for screens, timers."""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any, Literal
from zoneinfo import ZoneInfoNotFoundError

from edge.clock import Clock, SystemClock
from edge.queue.alerts import duration_warnings, expire_old_days, prune_history
from edge.queue.availability import open_windows, type_in_area, unavailable
from edge.queue.counter import CounterOperations
from edge.queue.errors import QueueError
from edge.queue.hall import HallIndex
from edge.queue.ordering import next_ticket, waiting_list
from edge.queue.store import Store, Transaction
from edge.queue.tickets import committed, find_booking, new_ticket, valid_id_number
from edge.queue.views import ticket_brief, ticket_view
from sync.hallsetup import Booking, HallSetup
from sync.idnumber import age_on

__all__ = ["QueueEngine", "Source"]

# A repeated request is recognised for two days; a double click is a matter of seconds.
IDEMPOTENCY_KEEP_MS = 2 * 24 * 3600 * 1000

Source = Literal["kiosk", "staff", "booking", "remote", "supplement"]


class QueueEngine(CounterOperations):
    """The queue of one hall over its SQLite database; the single writer of that database."""

    def __init__(
        self, conn: sqlite3.Connection, clock: Clock | None = None, *, retention_days: int = 90
    ) -> None:
        self.store = Store(conn)
        self.conn = conn
        self.clock: Clock = clock or SystemClock()
        self.retention_days = retention_days
        self._pruned_at = 0
        self._hall: HallIndex | None = None
        self.open_windows_cache = {}
        self.store.on_undo(self.open_windows_cache.clear)
        row = conn.execute("SELECT body FROM hall_setup ORDER BY version DESC LIMIT 1").fetchone()
        if row is not None:
            self._hall = HallIndex(HallSetup.model_validate_json(row["body"]))

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
        try:
            index = HallIndex(setup)
        except (ZoneInfoNotFoundError, ValueError) as exc:  # a zone this box's tzdata lacks
            raise QueueError("invalid_setup", f"unknown time zone {setup.hall.timezone}") from exc
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
        self.store.flush()
        self._hall = index
        self.open_windows_cache.clear()
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

    def list_services(
        self, area: str, *, search: str = "", department: str = ""
    ) -> list[dict[str, Any]]:
        """What a kiosk in `area` offers: every type with its waiting count and availability.

        `search` matches the name or its pinyin initials, `department` the department; with
        either, the most taken types of the last 30 days come first (§4.4 item 2).
        """
        hall = self.hall
        if area not in hall.areas:
            raise QueueError("unknown_area")
        at = hall.local(self.clock.now_ms())
        waiting = dict(
            self.conn.execute(
                "SELECT business_type, sum(waiting) FROM waiting_counts WHERE day = ? AND area = ? "
                "GROUP BY business_type",
                (at.day_text, area),
            ).fetchall()
        )
        serving = self._open_windows(area)
        counts = committed(self.conn, at.day_text)
        popularity = dict(
            self.conn.execute(
                "SELECT business_type, sum(committed) FROM daily_counts WHERE day >= ? "
                "GROUP BY business_type",
                ((at.day - dt.timedelta(days=30)).isoformat(),),
            ).fetchall()
        )
        services = []
        for type_id in hall.area_types[area]:
            t = hall.types[type_id]
            windows = serving.get(type_id, [])
            reason = unavailable(self.hall, t, at, windows, counts.get(type_id, 0))
            services.append(
                {
                    "id": t.id,
                    "name": t.name,
                    "prefix": t.prefix,
                    "category": t.category,
                    "category_name": hall.categories[t.category].name,
                    "department": t.department,
                    "pinyin": hall.initials[t.id],
                    "description": t.description,
                    "waiting": waiting.get(type_id, 0),
                    "windows": windows,
                    "available": reason is None,
                    "unavailable_reason": reason,
                    "popularity": popularity.get(type_id, 0),
                }
            )
        if not (search or department):
            return services
        needle = search.strip().lower()
        found = [
            s
            for s in services
            if (not department or s["department"] == department)
            and (not needle or needle in s["name"].lower() or s["pinyin"].startswith(needle))
        ]
        return sorted(found, key=lambda s: -s["popularity"])

    def _open_windows(self, area: str) -> dict[str, list[str]]:
        cached = self.open_windows_cache.get(area)
        if cached is None:
            cached = self.open_windows_cache[area] = open_windows(self.conn, self.hall, area)
        return cached

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
        t = type_in_area(self.hall, area, business_type)
        now = self.clock.now_ms()
        at = hall.local(now)
        id_number = valid_id_number(id_number)
        age_limit = hall.hall.green_channel_age
        by_age = bool(id_number and age_limit and age_on(id_number, at.day) >= age_limit)
        green_channel = green_channel or by_age

        def body(tx: Transaction) -> dict[str, Any]:
            windows = self._open_windows(area).get(t.id, [])
            used = committed(self.conn, at.day_text).get(t.id, 0)
            reason = unavailable(self.hall, t, at, windows, used)
            if reason is not None:
                raise QueueError(reason, business_type=t.id)
            kind = "green" if green_channel else "normal"
            return new_ticket(
                tx,
                self.hall,
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
        id_number = valid_id_number(id_number)
        now = self.clock.now_ms()
        at = hall.local(now)

        def body(tx: Transaction) -> dict[str, Any]:
            if not hall.hall_open(at):
                raise QueueError("outside_hall_hours")
            booking = find_booking(
                tx, self.hall, at, area, phone=phone, id_number=id_number, code=code
            )
            t = hall.types[booking["business_type"]]
            slot_start = hall.local_ms(at.day, dt.time.fromisoformat(booking["slot_start"]))
            slot_end = hall.local_ms(at.day, dt.time.fromisoformat(booking["slot_end"]))
            late = now >= slot_end
            ticket = new_ticket(
                tx,
                self.hall,
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
            ticket = new_ticket(
                tx,
                self.hall,
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
        views = [ticket_brief(r, self.hall) for r in rows]
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
        return _search([ticket_brief(r, self.hall) for r in rows], search)[:limit]

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
                    "unavailable_reason": s["unavailable_reason"],
                }
            )
        calls = self.conn.execute(
            "SELECT * FROM tickets WHERE area = ? AND day = ? AND last_called_at IS NOT NULL "
            "AND status != 'waiting' ORDER BY last_called_at DESC LIMIT ?",
            (area, at.day_text, latest),
        ).fetchall()
        states = {
            r["window"]: r
            for r in self.conn.execute(
                "SELECT window_state.window, window_state.status, tickets.number "
                "FROM window_state LEFT JOIN tickets ON tickets.id = window_state.current_ticket"
            )
        }
        windows = [
            {
                "id": w.id,
                "number": w.number,
                "name": w.name,
                "status": states[w.id]["status"] if w.id in states else "closed",
                "current": states[w.id]["number"] if w.id in states else None,
            }
            for w in hall.windows.values()
            if w.area == area
        ]
        return {
            "hall": {"id": hall.hall.id, "name": hall.hall.name},
            "area": {"id": area, "name": hall.areas[area].name},
            "day": at.day_text,
            "services": services,
            "latest_calls": [ticket_brief(r, hall) for r in calls],
            "windows": windows,
        }

    def ticket(self, ticket_id: str) -> dict[str, Any]:
        row = self.conn.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
        if row is None:
            raise QueueError("unknown_ticket")
        return ticket_view(row, self.hall)

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
            expire_old_days(tx, at)
            duration_warnings(tx, self.hall)
            tx.run("DELETE FROM idempotency WHERE at < ?", (now - IDEMPOTENCY_KEEP_MS,))
            if now - self._pruned_at >= 3600 * 1000:
                prune_history(tx, at.day - dt.timedelta(days=self.retention_days))
                self._pruned_at = now
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


def _search(views: list[dict[str, Any]], search: str) -> list[dict[str, Any]]:
    needle = search.strip().upper()
    if not needle:
        return views
    return [
        v
        for v in views
        if needle in v["number"] or (v.get("phone_tail") and needle in v["phone_tail"])
    ]
