"""The queue's rules as the seed states them (§4.1–§4.6, §1.5), one behaviour a test."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from edge.clock import ManualClock
from edge.queue import QueueEngine, QueueError
from sync.hallsetup import Booking
from tests.conftest import WORKDAY, hall_time
from tests.edge.hall import booking, small_hall


def login(engine: QueueEngine, window: str, staff: str) -> None:
    engine.window_login(window, engine.hall.staff[staff])


def take(engine: QueueEngine, type_id: str, area: str = "main", **extra: Any) -> dict[str, Any]:
    return engine.issue_ticket(
        area=area, business_type=type_id, source="kiosk", actor="kiosk:k1", **extra
    )


def call(engine: QueueEngine, window: str) -> dict[str, Any]:
    current: dict[str, Any] = engine.call_next(window, "staff:x")["window"]["current"]
    return current


def services(engine: QueueEngine, area: str = "main") -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in engine.list_services(area)}


def event_types(engine: QueueEngine) -> list[str]:
    return [e.type for e in engine.store.events_after(0, 100_000)]


# ----------------------------------------------------------------- §4.1.2 kiosk visibility


def test_a_type_no_open_window_serves_is_not_offered(engine: QueueEngine) -> None:
    offer = services(engine)
    assert offer["license"]["available"] is False
    assert offer["license"]["unavailable_reason"] == "no_window_open"
    with pytest.raises(QueueError) as refused:
        take(engine, "license")
    assert refused.value.code == "no_window_open"
    login(engine, "w1", "s1")
    offer = services(engine)
    assert offer["license"]["available"] and offer["license"]["windows"] == ["1"]


def test_a_window_in_another_area_does_not_open_a_type_here(engine: QueueEngine) -> None:
    login(engine, "w3", "s3")
    assert "pension" not in services(engine, "main")
    assert services(engine, "annex")["pension"]["available"]


def test_the_daily_cap_counts_handled_tickets_not_abandoned_or_void(
    engine: QueueEngine,
) -> None:
    login(engine, "w4", "s2")
    first = take(engine, "tax")
    take(engine, "tax")
    third = take(engine, "tax")
    assert services(engine)["tax"]["unavailable_reason"] == "daily_cap_reached"
    with pytest.raises(QueueError) as refused:
        take(engine, "tax")
    assert refused.value.code == "daily_cap_reached"
    assert call(engine, "w4")["id"] == first["id"]
    engine.abandon("w4", "staff:s2")
    assert services(engine)["tax"]["available"], "an abandoned ticket frees its place"
    take(engine, "tax")
    engine.void_ticket(third["id"], "admin:a")
    assert services(engine)["tax"]["available"], "a void ticket frees its place"


def test_a_type_is_hidden_outside_its_own_service_hours(
    engine: QueueEngine, clock: ManualClock
) -> None:
    login(engine, "w4", "s2")
    clock.set(hall_time(WORKDAY, 10, 59))
    assert services(engine)["tax"]["available"]
    clock.set(hall_time(WORKDAY, 11, 0))
    assert services(engine)["tax"]["unavailable_reason"] == "outside_service_hours"
    with pytest.raises(QueueError) as refused:
        take(engine, "tax")
    assert refused.value.code == "outside_service_hours"


@pytest.mark.parametrize(
    "moment",
    [
        hall_time(WORKDAY, 8, 59),
        hall_time(WORKDAY, 12, 30),
        hall_time(WORKDAY, 17, 30),
        hall_time(dt.date(2026, 11, 28), 10, 0),  # a Saturday
    ],
)
def test_nothing_is_offered_outside_the_halls_hours(
    engine: QueueEngine, clock: ManualClock, moment: dt.datetime
) -> None:
    login(engine, "w1", "s1")
    clock.set(moment)
    assert services(engine)["license"]["unavailable_reason"] == "outside_hall_hours"
    with pytest.raises(QueueError) as refused:
        take(engine, "license")
    assert refused.value.code == "outside_hall_hours"


def test_holidays_close_the_hall_and_adjusted_working_days_open_it(
    engine: QueueEngine, clock: ManualClock
) -> None:
    saturday = dt.date(2026, 11, 28)
    engine.apply_setup(
        small_hall(
            version=2, closed_dates=[WORKDAY.isoformat()], extra_working_dates=[str(saturday)]
        )
    )
    login(engine, "w1", "s1")
    clock.set(hall_time(WORKDAY, 10))
    assert services(engine)["license"]["unavailable_reason"] == "outside_hall_hours"
    clock.set(hall_time(saturday, 10))
    assert services(engine)["license"]["available"]


def test_the_kiosk_shows_waiting_count_description_and_department(engine: QueueEngine) -> None:
    login(engine, "w1", "s1")
    take(engine, "license")
    take(engine, "license")
    offer = services(engine)["license"]
    assert offer["waiting"] == 2
    assert {"description", "department", "category_name", "pinyin"} <= offer.keys()


# ----------------------------------------------------------------- §4.1.3 tickets


def test_numbers_continue_across_kiosks_and_restart_each_day(
    engine: QueueEngine, clock: ManualClock
) -> None:
    login(engine, "w1", "s1")
    a = engine.issue_ticket(area="main", business_type="license", source="kiosk", actor="kiosk:1")
    b = engine.issue_ticket(area="main", business_type="license", source="kiosk", actor="kiosk:2")
    assert (a["number"], b["number"]) == ("A001", "A002")
    clock.set(hall_time(WORKDAY + dt.timedelta(days=1), 9, 5))
    assert take(engine, "license")["number"] == "A001"


def test_a_ticket_carries_what_the_seed_prints_on_it(engine: QueueEngine) -> None:
    login(engine, "w1", "s1")
    login(engine, "w2", "s2")
    take(engine, "license")
    ticket = take(engine, "license")
    assert ticket["number"] == "A002"
    assert ticket["waiting_at_issue"] == 1
    assert ticket["serving_windows"] == ["1", "2"]
    assert ticket["business_type_name"] == "证照变更"
    assert ticket["source"] == "kiosk" and ticket["issued_at"] > 0


def test_a_morning_ticket_is_still_valid_in_the_afternoon(
    engine: QueueEngine, clock: ManualClock
) -> None:
    login(engine, "w1", "s1")
    ticket = take(engine, "license")
    clock.set(hall_time(WORKDAY, 14, 0))
    engine.tick()
    assert call(engine, "w1")["id"] == ticket["id"]


def test_yesterdays_waiting_tickets_expire(engine: QueueEngine, clock: ManualClock) -> None:
    login(engine, "w1", "s1")
    ticket = take(engine, "license")
    clock.set(hall_time(WORKDAY + dt.timedelta(days=1), 9, 0))
    engine.tick()
    assert engine.ticket(ticket["id"])["status"] == "expired"
    with pytest.raises(QueueError) as refused:
        call(engine, "w1")
    assert refused.value.code == "queue_empty"


def test_staff_can_take_a_ticket_for_a_citizen(engine: QueueEngine) -> None:
    login(engine, "w1", "s1")
    ticket = engine.issue_ticket(
        area="main", business_type="license", source="staff", actor="staff:s4"
    )
    assert ticket["source"] == "staff"


# ----------------------------------------------------------------- §4.1.4 priority


def test_green_channel_goes_before_ordinary_tickets(
    engine: QueueEngine, clock: ManualClock
) -> None:
    login(engine, "w1", "s1")
    ordinary = take(engine, "license")
    clock.advance(60)
    green = take(engine, "license", green_channel=True)
    assert green["kind"] == "green" and green["priority"]
    assert call(engine, "w1")["id"] == green["id"]
    assert call(engine, "w1")["id"] == ordinary["id"]


def test_priority_tickets_are_served_first_come_first_served(
    engine: QueueEngine, clock: ManualClock
) -> None:
    login(engine, "w1", "s1")
    take(engine, "license")
    first = take(engine, "license", green_channel=True)
    clock.advance(30)
    second = take(engine, "license", green_channel=True)
    assert [call(engine, "w1")["id"] for _ in range(2)] == [first["id"], second["id"]]


def _book_930(engine: QueueEngine) -> None:
    engine.load_bookings(
        [
            Booking.model_validate(
                booking("0930", "license", WORKDAY, "09:30", "10:00", phone="13800000001")
            )
        ]
    )


def test_a_booking_taken_at_its_slot_has_priority(engine: QueueEngine, clock: ManualClock) -> None:
    """Zhang San booked 9:30; taking the ticket at 9:31 he goes before walk-ins."""
    login(engine, "w1", "s1")
    _book_930(engine)
    clock.set(hall_time(WORKDAY, 9, 20))
    walk_in = take(engine, "license")
    clock.set(hall_time(WORKDAY, 9, 31))
    booked = engine.check_in_booking(area="main", actor="kiosk:k1", phone="13800000001")
    assert booked["kind"] == "booking" and booked["source"] == "booking"
    assert call(engine, "w1")["id"] == booked["id"]
    assert call(engine, "w1")["id"] == walk_in["id"]


def test_a_booking_taken_early_waits_for_its_slot_while_walk_ins_wait(
    engine: QueueEngine, clock: ManualClock
) -> None:
    """The 9:30 example of §1.5: before 9:30 he is called only when no walk-in is waiting."""
    login(engine, "w1", "s1")
    _book_930(engine)
    clock.set(hall_time(WORKDAY, 9, 10))
    booked = engine.check_in_booking(area="main", actor="kiosk:k1", code="0930")
    walk_in = take(engine, "license")
    clock.set(hall_time(WORKDAY, 9, 15))
    assert call(engine, "w1")["id"] == walk_in["id"], "before 9:30 the walk-in goes first"
    engine.finish("w1", "staff:s1")
    assert call(engine, "w1")["id"] == booked["id"], "no walk-in waits: he is called early"


def test_an_early_booking_overtakes_walk_ins_once_its_slot_begins(
    engine: QueueEngine, clock: ManualClock
) -> None:
    login(engine, "w1", "s1")
    _book_930(engine)
    clock.set(hall_time(WORKDAY, 9, 10))
    booked = engine.check_in_booking(area="main", actor="kiosk:k1", phone="13800000001")
    take(engine, "license")
    clock.set(hall_time(WORKDAY, 9, 30))
    assert call(engine, "w1")["id"] == booked["id"]


def test_booking_check_in_by_id_number_and_its_refusals(
    engine: QueueEngine, clock: ManualClock
) -> None:
    login(engine, "w1", "s1")
    engine.load_bookings(
        [
            Booking.model_validate(
                booking(
                    "BKA1", "license", WORKDAY, "10:00", "10:30", id_number="110101199003070011"
                )
            ),
            Booking.model_validate(
                booking("BKA2", "license", WORKDAY, "10:00", "10:30", status="cancelled", phone="1")
            ),
            Booking.model_validate(
                booking("BKA3", "license", WORKDAY + dt.timedelta(days=1), "10:00", "10:30")
            ),
        ]
    )
    ticket = engine.check_in_booking(area="main", actor="k", id_number="110101199003070011")
    assert ticket["booking"]["id"] == "bk-BKA1"
    for kwargs, code in (
        ({"id_number": "110101199003070011"}, "booking_already_checked_in"),
        ({"phone": "1"}, "booking_cancelled"),
        ({"code": "BKA3"}, "booking_not_found"),
        ({"phone": "139"}, "booking_not_found"),
    ):
        with pytest.raises(QueueError) as refused:
            engine.check_in_booking(area="main", actor="k", **kwargs)
        assert refused.value.code == code


def test_a_late_booking_gets_an_ordinary_ticket(engine: QueueEngine, clock: ManualClock) -> None:
    login(engine, "w1", "s1")
    _book_930(engine)
    clock.set(hall_time(WORKDAY, 10, 5))
    walk_in = take(engine, "license")
    late = engine.check_in_booking(area="main", actor="k", code="0930")
    assert late["booking"]["late"] and not late["priority"]
    assert call(engine, "w1")["id"] == walk_in["id"]


# ----------------------------------------------------------------- windows and areas


def test_a_window_serves_its_types_in_its_own_order(engine: QueueEngine) -> None:
    login(engine, "w1", "s1")
    login(engine, "w2", "s2")
    lic = take(engine, "license")
    tax = take(engine, "tax")
    assert call(engine, "w2")["id"] == tax["id"], "window 2 puts tax first"
    assert call(engine, "w1")["id"] == lic["id"]


def test_each_calling_area_has_its_own_queue(engine: QueueEngine) -> None:
    setup = small_hall(version=2).model_dump(mode="json")
    setup["windows"][2]["business_types"] = ["pension", "card", "license"]
    engine.apply_setup(type(small_hall()).model_validate(setup))
    login(engine, "w1", "s1")
    login(engine, "w3", "s3")
    annex = take(engine, "license", area="annex")
    with pytest.raises(QueueError) as refused:
        call(engine, "w1")
    assert refused.value.code == "queue_empty"
    assert call(engine, "w3")["id"] == annex["id"]


def test_assignment_by_staff_takes_the_types_from_who_is_logged_in(engine: QueueEngine) -> None:
    engine.apply_setup(small_hall(version=2, assignment="staff"))
    login(engine, "w4", "s1")  # window 4 is configured for tax, but s1 serves license
    offer = services(engine)
    assert offer["license"]["available"] and not offer["tax"]["available"]
    ticket = take(engine, "license")
    assert call(engine, "w4")["id"] == ticket["id"]


def test_a_staff_member_is_logged_in_at_one_window_at_a_time(engine: QueueEngine) -> None:
    login(engine, "w1", "s1")
    with pytest.raises(QueueError) as refused:
        login(engine, "w2", "s1")
    assert refused.value.code == "staff_logged_in_elsewhere"
    with pytest.raises(QueueError) as occupied:
        login(engine, "w1", "s2")
    assert occupied.value.code == "window_occupied"


def test_logout_is_refused_while_a_citizen_is_at_the_window(engine: QueueEngine) -> None:
    login(engine, "w1", "s1")
    take(engine, "license")
    call(engine, "w1")
    with pytest.raises(QueueError) as refused:
        engine.window_logout("w1", "staff:s1")
    assert refused.value.code == "window_busy"
    engine.finish("w1", "staff:s1")
    engine.window_logout("w1", "staff:s1")
    assert engine.window_status("w1")["status"] == "closed"


# ----------------------------------------------------------------- staff operations


def test_call_next_finishes_the_current_ticket(engine: QueueEngine) -> None:
    login(engine, "w1", "s1")
    first, second = take(engine, "license"), take(engine, "license")
    call(engine, "w1")
    assert call(engine, "w1")["id"] == second["id"]
    assert engine.ticket(first["id"])["status"] == "finished"


def test_recall_calls_the_same_ticket_again(engine: QueueEngine) -> None:
    login(engine, "w1", "s1")
    take(engine, "license")
    call(engine, "w1")
    current = engine.recall("w1", "staff:s1")["window"]["current"]
    assert current["call_count"] == 2
    assert event_types(engine).count("ticket.recalled") == 1


def test_an_empty_queue_refuses_call_next_and_changes_nothing(engine: QueueEngine) -> None:
    login(engine, "w1", "s1")
    before = len(event_types(engine))
    with pytest.raises(QueueError) as refused:
        call(engine, "w1")
    assert refused.value.code == "queue_empty"
    assert len(event_types(engine)) == before


def test_transfer_keeps_the_number_and_joins_the_other_queue(engine: QueueEngine) -> None:
    login(engine, "w1", "s1")
    login(engine, "w4", "s2")
    waiting_tax = take(engine, "tax")
    ticket = take(engine, "license")
    call(engine, "w1")
    engine.transfer("w1", "staff:s1", business_type="tax", priority=False)
    moved = engine.ticket(ticket["id"])
    assert (moved["number"], moved["business_type"], moved["status"]) == ("A001", "tax", "waiting")
    assert call(engine, "w4")["id"] == waiting_tax["id"], "without priority it queues at the end"
    assert call(engine, "w4")["id"] == ticket["id"]


def test_transfer_with_priority_goes_to_the_front(engine: QueueEngine) -> None:
    login(engine, "w1", "s1")
    login(engine, "w4", "s2")
    take(engine, "tax")
    ticket = take(engine, "license")
    call(engine, "w1")
    engine.transfer("w1", "staff:s1", business_type="tax", priority=True)
    assert call(engine, "w4")["id"] == ticket["id"]


def test_transfer_to_the_same_type_or_another_area_is_refused(engine: QueueEngine) -> None:
    login(engine, "w1", "s1")
    take(engine, "license")
    call(engine, "w1")
    for target, code in (("license", "same_business_type"), ("pension", "type_not_in_area")):
        with pytest.raises(QueueError) as refused:
            engine.transfer("w1", "staff:s1", business_type=target, priority=False)
        assert refused.value.code == code
    assert engine.window_status("w1")["current"]["status"] == "called"


def test_a_supplement_citizen_comes_back_to_the_same_staff_member(
    engine: QueueEngine, clock: ManualClock
) -> None:
    login(engine, "w1", "s1")
    login(engine, "w2", "s2")
    take(engine, "license", phone="13900000000")
    call(engine, "w1")
    code = engine.supplement("w1", "staff:s1")["supplement"]["code"]
    clock.set(hall_time(WORKDAY + dt.timedelta(days=2), 10))
    engine.window_logout("w1", "staff:s1")
    engine.window_logout("w2", "staff:s2")
    login(engine, "w2", "s1")  # the same person, now at window 2
    login(engine, "w1", "s2")
    back = engine.return_for_supplement(area="main", code=code, actor="kiosk:k1")
    assert back["kind"] == "supplement" and back["assigned_staff"] == "s1"
    others = take(engine, "license")
    assert call(engine, "w1")["id"] == others["id"], "another staff member never gets him"
    assert call(engine, "w2")["id"] == back["id"]
    with pytest.raises(QueueError) as used:
        engine.return_for_supplement(area="main", code=code, actor="kiosk:k1")
    assert used.value.code == "supplement_not_found"


def test_an_expired_supplement_code_is_refused(engine: QueueEngine, clock: ManualClock) -> None:
    login(engine, "w1", "s1")
    take(engine, "license")
    call(engine, "w1")
    code = engine.supplement("w1", "staff:s1")["supplement"]["code"]
    clock.set(hall_time(WORKDAY + dt.timedelta(days=34), 10))
    with pytest.raises(QueueError) as refused:
        engine.return_for_supplement(area="main", code=code, actor="kiosk:k1")
    assert refused.value.code == "supplement_not_found"


def test_pause_backstage_and_resume(engine: QueueEngine) -> None:
    login(engine, "w1", "s1")
    assert engine.pause("w1", "staff:s1")["window"]["status"] == "paused"
    assert engine.backstage("w1", "staff:s1")["window"]["status"] == "backstage"
    assert engine.resume("w1", "staff:s1")["window"]["status"] == "open"
    engine.one_meter_line("w1", "staff:s1")
    assert event_types(engine)[-4:] == [
        "window.paused",
        "window.backstage",
        "window.resumed",
        "window.one_meter_line",
    ]


def test_a_paused_window_still_counts_as_open_for_the_kiosk(engine: QueueEngine) -> None:
    login(engine, "w1", "s1")
    engine.pause("w1", "staff:s1")
    assert services(engine)["license"]["available"]


def test_call_next_from_a_paused_window_resumes_it(engine: QueueEngine) -> None:
    login(engine, "w1", "s1")
    take(engine, "license")
    engine.pause("w1", "staff:s1")
    call(engine, "w1")
    assert engine.window_status("w1")["status"] == "open"


# ----------------------------------------------------------------- evaluation gate


def test_one_ticket_one_evaluation_gate(engine: QueueEngine, clock: ManualClock) -> None:
    engine.apply_setup(small_hall(version=2, evaluation_gate=True, evaluation_gate_seconds=60))
    login(engine, "w1", "s1")
    first, second = take(engine, "license"), take(engine, "license")
    call(engine, "w1")
    with pytest.raises(QueueError) as busy:
        call(engine, "w1")
    assert busy.value.code == "window_busy", "the current ticket must be finished first"
    status = engine.finish("w1", "staff:s1")["window"]
    assert status["evaluation_gate"]["ticket"] == first["id"]
    with pytest.raises(QueueError) as pending:
        call(engine, "w1")
    assert pending.value.code == "evaluation_pending"
    engine.evaluate(first["id"], "very_satisfied", "pad:w1")
    assert call(engine, "w1")["id"] == second["id"]


def test_the_gate_opens_by_itself_after_the_configured_seconds(
    engine: QueueEngine, clock: ManualClock
) -> None:
    engine.apply_setup(small_hall(version=2, evaluation_gate=True, evaluation_gate_seconds=60))
    login(engine, "w1", "s1")
    take(engine, "license")
    second = take(engine, "license")
    call(engine, "w1")
    engine.finish("w1", "staff:s1")
    clock.advance(59)
    with pytest.raises(QueueError):
        call(engine, "w1")
    clock.advance(1)
    assert call(engine, "w1")["id"] == second["id"]


def test_an_evaluation_is_stored_once_even_when_resent(engine: QueueEngine) -> None:
    login(engine, "w1", "s1")
    ticket = take(engine, "license")
    call(engine, "w1")
    engine.finish("w1", "staff:s1", request_evaluation=True)
    engine.evaluate(ticket["id"], "satisfied", "pad:w1")
    engine.evaluate(ticket["id"], "satisfied", "pad:w1")
    assert event_types(engine).count("ticket.evaluated") == 1
    with pytest.raises(QueueError) as refused:
        engine.evaluate(ticket["id"], "dissatisfied", "pad:w1")
    assert refused.value.code == "already_evaluated"
    assert engine.ticket(ticket["id"])["evaluation"] == "satisfied"


def test_an_evaluation_needs_a_request(engine: QueueEngine) -> None:
    login(engine, "w1", "s1")
    ticket = take(engine, "license")
    call(engine, "w1")
    with pytest.raises(QueueError) as refused:
        engine.evaluate(ticket["id"], "satisfied", "pad:w1")
    assert refused.value.code == "evaluation_not_requested"


# ----------------------------------------------------------------- auto-call, warnings


def test_auto_call_counts_down_and_calls_an_idle_open_window(
    engine: QueueEngine, clock: ManualClock
) -> None:
    engine.apply_setup(small_hall(version=2, auto_call_seconds=30))
    login(engine, "w1", "s1")
    login(engine, "w2", "s2")
    engine.pause("w2", "staff:s2")
    ticket = take(engine, "license")
    clock.advance(10)
    assert engine.window_status("w1")["auto_call_in"] == 20
    assert engine.tick() == []
    clock.advance(20)
    assert engine.tick() == ["w1"], "a paused window is never auto-called"
    assert engine.window_status("w1")["current"]["id"] == ticket["id"]
    called = [e for e in engine.store.events_after(0, 1000) if e.type == "ticket.called"]
    assert called[-1].payload["auto"] is True


def test_a_category_waiting_warning_is_raised_and_cleared(engine: QueueEngine) -> None:
    login(engine, "w1", "s1")
    for _ in range(4):
        take(engine, "license")
    assert event_types(engine).count("warning.waiting") == 1
    take(engine, "license")
    assert event_types(engine).count("warning.waiting") == 1, "raised once, not per ticket"
    call(engine, "w1")
    call(engine, "w1")
    assert "warning.waiting_cleared" in event_types(engine)


def test_a_long_handling_duration_raises_a_warning(engine: QueueEngine, clock: ManualClock) -> None:
    login(engine, "w3", "s3")
    take(engine, "pension", area="annex")
    call(engine, "w3")
    clock.advance(600)
    engine.tick()
    assert "warning.duration" not in event_types(engine)
    clock.advance(1)
    engine.tick()
    engine.tick()
    assert event_types(engine).count("warning.duration") == 1


# ----------------------------------------------------------------- log, idempotency, restart


def test_every_change_writes_an_event_in_sequence(engine: QueueEngine) -> None:
    login(engine, "w1", "s1")
    take(engine, "license")
    call(engine, "w1")
    events = engine.store.events_after(0, 1000)
    assert [e.seq for e in events] == sorted(e.seq for e in events)
    assert len({e.id for e in events}) == len(events) and all(len(e.id) == 26 for e in events)
    assert [e.type for e in events][-3:] == ["window.login", "ticket.issued", "ticket.called"]


def test_a_repeated_request_with_the_same_key_takes_effect_once(engine: QueueEngine) -> None:
    login(engine, "w1", "s1")
    first = engine.issue_ticket(
        area="main", business_type="license", source="kiosk", actor="kiosk:k1", key="k-1"
    )
    again = engine.issue_ticket(
        area="main", business_type="license", source="kiosk", actor="kiosk:k1", key="k-1"
    )
    assert again == first
    assert services(engine)["license"]["waiting"] == 1
    with pytest.raises(QueueError) as refused:
        engine.call_next("w1", "kiosk:k1", key="k-1")
    assert refused.value.code == "idempotency_conflict"


def test_a_double_click_on_next_calls_one_citizen(engine: QueueEngine) -> None:
    login(engine, "w1", "s1")
    first, second = take(engine, "license"), take(engine, "license")
    one = engine.call_next("w1", "staff:s1", key="click-7")
    two = engine.call_next("w1", "staff:s1", key="click-7")
    assert one == two and one["window"]["current"]["id"] == first["id"]
    assert engine.ticket(second["id"])["status"] == "waiting"


def test_a_node_reopened_from_its_database_has_the_same_state(
    engine: QueueEngine, clock: ManualClock
) -> None:
    from edge.db import open_database

    login(engine, "w1", "s1")
    take(engine, "license")
    take(engine, "license", green_channel=True)
    call(engine, "w1")
    before = (engine.window_status("w1"), engine.waiting_for_window("w1"), services(engine))
    path = engine.conn.execute("PRAGMA database_list").fetchone()["file"]
    reopened = QueueEngine(open_database(path), clock)
    after = (reopened.window_status("w1"), reopened.waiting_for_window("w1"), services(reopened))
    assert after == before
    assert (
        reopened.issue_ticket(area="main", business_type="license", source="kiosk", actor="k")[
            "number"
        ]
        == "A003"
    )


def test_a_stale_configuration_version_is_refused(engine: QueueEngine) -> None:
    with pytest.raises(QueueError) as refused:
        engine.apply_setup(small_hall(version=1))
    assert refused.value.code == "invalid_setup"


def test_the_waiting_list_is_in_calling_order_and_searchable(
    engine: QueueEngine, clock: ManualClock
) -> None:
    login(engine, "w2", "s2")
    take(engine, "license")
    take(engine, "tax")
    clock.advance(5)
    take(engine, "license", green_channel=True, phone="13912345678")
    order = [t["number"] for t in engine.waiting_for_window("w2")]
    assert order == ["B001", "A002", "A001"], "tax first at window 2, then priority license"
    assert [t["number"] for t in engine.waiting_for_window("w2", search="5678")] == ["A002"]
    call(engine, "w2")
    assert [t["number"] for t in engine.called_by_window("w2", search="B0")] == ["B001"]


def test_an_elderly_citizen_known_by_id_number_gets_the_green_channel(
    engine: QueueEngine,
) -> None:
    login(engine, "w1", "s1")
    young = take(engine, "license", id_number="110101199003070011")
    elderly = take(engine, "license", id_number="110105194901010013")  # born 1949
    assert not young["priority"] and elderly["kind"] == "green" and elderly["priority"]
    assert call(engine, "w1")["id"] == elderly["id"]


def test_an_id_number_with_a_wrong_checksum_is_refused(engine: QueueEngine) -> None:
    login(engine, "w1", "s1")
    with pytest.raises(QueueError) as refused:
        take(engine, "license", id_number="110101199003070012")
    assert refused.value.code == "invalid_id_number"


def test_a_new_configuration_that_drops_a_window_requeues_its_citizen(
    engine: QueueEngine,
) -> None:
    login(engine, "w1", "s1")
    login(engine, "w2", "s2")
    first = take(engine, "license")
    take(engine, "license")
    call(engine, "w1")
    setup = small_hall(version=2).model_dump(mode="json")
    setup["windows"] = [w for w in setup["windows"] if w["id"] != "w1"]
    engine.apply_setup(type(small_hall()).model_validate(setup))
    assert engine.ticket(first["id"])["status"] == "waiting"
    assert call(engine, "w2")["id"] == first["id"], "back at the front of the queue"


def test_the_kiosk_finds_types_by_name_pinyin_initials_and_department(
    engine: QueueEngine,
) -> None:
    login(engine, "w1", "s1")
    login(engine, "w2", "s2")
    take(engine, "tax")
    take(engine, "tax")
    take(engine, "license")
    assert [s["id"] for s in engine.list_services("main", search="zzbg")] == ["license"]
    assert [s["id"] for s in engine.list_services("main", search="税")] == ["tax"]
    assert services(engine)["license"]["pinyin"] == "zzbg", "derived from 证照变更"
    assert [s["id"] for s in engine.list_services("main", search="")] == ["license", "tax"]
    setup = small_hall(version=2).model_dump(mode="json")
    for t in setup["business_types"]:
        t["department"] = "市场监管局" if t["id"] != "card" else "人社局"
    engine.apply_setup(type(small_hall()).model_validate(setup))
    by_popularity = engine.list_services("main", department="市场监管局")
    assert [s["id"] for s in by_popularity] == ["tax", "license"], "most taken first"
    assert engine.list_services("main", department="人社局") == []


def test_idempotency_keys_are_forgotten_after_two_days(
    engine: QueueEngine, clock: ManualClock
) -> None:
    login(engine, "w1", "s1")
    take(engine, "license", key="press-1")
    clock.advance(47 * 3600)
    engine.tick()
    assert engine.conn.execute("SELECT count(*) FROM idempotency").fetchone()[0] == 1
    clock.advance(3600 + 1)
    engine.tick()
    assert engine.conn.execute("SELECT count(*) FROM idempotency").fetchone()[0] == 0


def test_days_older_than_the_retention_are_forgotten_but_the_event_log_stays(
    engine: QueueEngine, clock: ManualClock
) -> None:
    login(engine, "w1", "s1")
    old = take(engine, "license")
    events = len(engine.store.events_after(0, 100_000))
    clock.set(hall_time(WORKDAY + dt.timedelta(days=89), 10))
    engine.tick()
    assert engine.ticket(old["id"])["status"] == "expired"
    clock.set(hall_time(WORKDAY + dt.timedelta(days=91), 10))
    engine.tick()
    with pytest.raises(QueueError):
        engine.ticket(old["id"])
    assert len(engine.store.events_after(0, 100_000)) > events
