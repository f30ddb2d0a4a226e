"""The device bus contract: every MQTT topic of a hall, who may use it, and its payloads.

One table, `TOPICS`, names each topic with its QoS, retain flag, direction and payload model;
the edge builds its subscriptions, handlers and every device's ACL from it, and devices of any
vendor implement it. Payloads are JSON objects with `"v": 1`; a new version is a new model.

    {prefix}/{hall}/edge/online                     edge → all     retained  "1" / "0" (last will)
    {prefix}/{hall}/event/{type}                    edge → all     the event log, in order
    {prefix}/{hall}/area/{area}/status              edge → screens retained  central display data
    {prefix}/{hall}/window/{window}/state           edge → window  retained  window display / Pad
    {prefix}/{hall}/device/{device}/online          device → edge  retained  "1" / "0" (last will)
    {prefix}/{hall}/device/{device}/heartbeat       device → edge  every N s, with telemetry
    {prefix}/{hall}/device/{device}/event           device → edge  what happened at the device
    {prefix}/{hall}/device/{device}/cmd/{command}   edge → device  what the device must do
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DEVICE_KINDS",
    "MAX_PAYLOAD_BYTES",
    "TOPICS",
    "DeviceCommand",
    "DeviceEvent",
    "DeviceKind",
    "Heartbeat",
    "Topic",
    "device_acl",
    "reference",
    "topic",
]

DeviceKind = Literal[
    "kiosk",
    "printer",
    "window_display",
    "central_display",
    "pad",
    "voice_player",
    "scanner",
    "card_reader",
    "pc_agent",
]
DEVICE_KINDS: tuple[str, ...] = DeviceKind.__args__  # type: ignore[attr-defined]

MAX_PAYLOAD_BYTES = 64 * 1024


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = 1


class Heartbeat(_Payload):
    """A device says it is alive, with what it knows about itself."""

    ts: int = Field(description="the device's clock, ms since the epoch")
    uptime_s: int = Field(0, ge=0)
    firmware: str = Field("", max_length=64)
    telemetry: dict[str, float | int | str | bool] = Field(default_factory=dict, max_length=64)


class DeviceEvent(_Payload):
    """Something happened at a device: paper out, a QR scanned, a card read, a button."""

    type: str = Field(pattern=r"^[a-z][a-z0-9_.]{0,63}$")
    ts: int
    data: dict[str, Any] = Field(default_factory=dict)


class DeviceCommand(_Payload):
    """What the edge asks a device to do; `id` lets the device answer with an event."""

    id: str = Field(min_length=1, max_length=64)
    data: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class Topic:
    """One topic of the bus. `pattern` uses {hall}, {device}, {area}, {window}, {name}."""

    name: str
    pattern: str
    qos: int
    retain: bool
    writer: Literal["edge", "device"]
    payload: type[_Payload] | None  # None: the bare text "1" / "0", or edge-defined JSON


TOPICS: tuple[Topic, ...] = (
    Topic("edge_online", "{hall}/edge/online", 1, True, "edge", None),
    Topic("event", "{hall}/event/{name}", 1, False, "edge", None),
    Topic("area_status", "{hall}/area/{area}/status", 1, True, "edge", None),
    Topic("window_state", "{hall}/window/{window}/state", 1, True, "edge", None),
    Topic("device_online", "{hall}/device/{device}/online", 1, True, "device", None),
    Topic("heartbeat", "{hall}/device/{device}/heartbeat", 0, False, "device", Heartbeat),
    Topic("device_event", "{hall}/device/{device}/event", 1, False, "device", DeviceEvent),
    Topic("command", "{hall}/device/{device}/cmd/{name}", 1, False, "edge", DeviceCommand),
)

# What each kind of device reads besides its own commands and the edge's presence.
_READS: dict[str, tuple[str, ...]] = {
    "kiosk": ("area_status",),
    "central_display": ("area_status",),
    "voice_player": ("area_status", "event"),
    "window_display": ("window_state",),
    "pad": ("window_state",),
    "printer": (),
    "scanner": (),
    "card_reader": (),
    "pc_agent": (),
}


def topic(which: str, prefix: str, **fields: str) -> str:
    """The concrete topic of `TOPICS[which]`; a field not given becomes the wildcard `+`."""
    spec = next(t for t in TOPICS if t.name == which)
    values = {"hall": "", "device": "+", "area": "+", "window": "+", "name": "+", **fields}
    return f"{prefix}/{spec.pattern.format(**values)}"


def device_acl(
    *, prefix: str, hall: str, device: str, kind: str, area: str = "", window: str = ""
) -> list[str]:
    """Mosquitto ACL lines for one device: its own topics, and the state its kind displays."""
    own = dict(hall=hall, device=device)
    lines = [
        f"topic write {topic('device_online', prefix, **own)}",
        f"topic write {topic('heartbeat', prefix, **own)}",
        f"topic write {topic('device_event', prefix, **own)}",
        f"topic read {prefix}/{hall}/device/{device}/cmd/#",
        f"topic read {topic('edge_online', prefix, hall=hall)}",
    ]
    for name in _READS[kind]:
        if name == "area_status" and area:
            lines.append(f"topic read {topic(name, prefix, hall=hall, area=area)}")
        elif name == "window_state" and window:
            lines.append(f"topic read {topic(name, prefix, hall=hall, window=window)}")
        elif name == "event":
            lines.append(f"topic read {prefix}/{hall}/event/ticket.called")
            lines.append(f"topic read {prefix}/{hall}/event/ticket.recalled")
    return lines


def reference(prefix: str = "smarthall") -> str:
    """The topic scheme as Markdown, from `TOPICS` and the ACL rules (docs/device-bus.md)."""
    lines = [
        "# The device bus",
        "",
        "Every MQTT topic of a hall. Generated from `sync/devicebus.py` by",
        "`hall device topics`; a test fails when this file and the code disagree.",
        "",
        "| topic | written by | QoS | retained | payload |",
        "|---|---|---|---|---|",
    ]
    for t in TOPICS:
        payload = t.payload.__name__ if t.payload else "text or edge JSON"
        pattern = f"{prefix}/{t.pattern}"
        lines.append(
            f"| `{pattern}` | {t.writer} | {t.qos} | {'yes' if t.retain else 'no'} | {payload} |"
        )
    lines += [
        "",
        'Payloads are JSON objects with `"v": 1`; at most '
        f"{MAX_PAYLOAD_BYTES // 1024} KiB. A device's last will is `0` on its `online` topic.",
        "",
        "## Who may use what",
        "",
        "Each device logs in as `dev-<device id>` with its own password and may write only its",
        "own `online`, `heartbeat` and `event` topics and read its own `cmd/#` and the edge's",
        "`online`. Besides, by kind:",
        "",
        "| kind | also reads |",
        "|---|---|",
    ]
    for kind in DEVICE_KINDS:
        reads = ", ".join(f"`{n}`" for n in _READS[kind]) or "—"
        lines.append(f"| {kind} | {reads} (its own area or window) |")
    lines += ["", "The edge logs in as `edge-<hall>` and may read and write the hall's tree.", ""]
    return "\n".join(lines)
