"""The edge API's operations for the kiosk (取号机, §4.4): the paperless ticket's QR code."""

from __future__ import annotations

from edge.api.common import Operation

__all__ = ["KIOSK_OPERATIONS"]

KIOSK_OPERATIONS: tuple[Operation, ...] = ()
