"""Printing a ticket where it was taken: the kiosk's printer gets the ESC/POS job over MQTT.

After a ticket is committed, the printer attached to the kiosk that issued it is sent
`cmd/print` with the job its own profile needs (layout, encoding, QR, cut). The printer's agent
(or `hall device simulate printer`) writes it to the paper. Rendering happens off the commit
path, in a task of its own; a kiosk without a printer simply gets no print job.
"""

from __future__ import annotations

import base64
import logging

from edge.devices.bus import DeviceBus
from edge.devices.printer.encode import ticket_bytes
from edge.devices.printer.layout import TicketContent, layout
from edge.devices.printer.profile import PrinterProfile
from edge.devices.profiles import Catalogue
from edge.devices.registry import DeviceRegistry
from edge.queue import QueueEngine
from edge.queue.store import Event, EventFeed
from sync.devicebus import DeviceCommand
from sync.tickettemplate import DEFAULT_TEMPLATE, TicketTemplate

__all__ = ["TicketPrinting", "print_job"]

log = logging.getLogger(__name__)

_PRINTED_SOURCES = {"kiosk", "staff", "booking", "supplement"}


class TicketPrinting:
    def __init__(
        self,
        engine: QueueEngine,
        registry: DeviceRegistry,
        bus: DeviceBus,
        catalogue: Catalogue,
        *,
        template: TicketTemplate = DEFAULT_TEMPLATE,
        qr_base: str = "",
    ) -> None:
        self.engine = engine
        self.registry = registry
        self.bus = bus
        self.catalogue = catalogue
        self.template = template
        self.qr_base = qr_base.rstrip("/")
        self.sent = 0
        self._feed = EventFeed(engine.store, lambda e: e.type == "ticket.issued")

    async def run(self) -> None:
        await self._feed.each(self._print)

    def _print(self, event: Event) -> None:
        ticket = event.payload["ticket"]
        kind, _, client = str(ticket.get("issued_by", "")).partition(":")
        if ticket.get("source") not in _PRINTED_SOURCES or kind not in ("kiosk", "staff"):
            return
        printers = [
            d for d in self.registry.devices() if d.kind == "printer" and d.attached_to == client
        ]
        for printer in printers:
            profile = self.catalogue.get("printers", printer.profile)
            assert isinstance(profile, PrinterProfile)
            qr = f"{self.qr_base}/t/{ticket['id']}" if self.qr_base else None
            job = print_job(self.engine, ticket, profile, self.template, qr)
            command = DeviceCommand(
                id=ticket["id"],
                data={"job": base64.b64encode(job).decode(), "ticket": ticket["number"]},
            )
            self.bus.command(printer.id, "print", command)
            self.sent += 1


def print_job(
    engine: QueueEngine,
    ticket: dict[str, object],
    profile: PrinterProfile,
    template: TicketTemplate,
    qr_payload: str | None,
) -> bytes:
    """The ESC/POS bytes of a just-issued ticket for one printer model."""
    hall = engine.hall
    business_type = hall.types[str(ticket["business_type"])]
    content = TicketContent.from_view(ticket, hall=hall.hall, business_type=business_type)
    return ticket_bytes(layout(content, template, profile, qr_payload), profile)
