"""The edge API for the window Pad (评价器, §5.1.5, §5.2): badge photos and screenshots."""

from __future__ import annotations

from edge.api.common import Operation

__all__ = ["PAD_OPERATIONS"]

PAD_OPERATIONS: tuple[Operation, ...] = ()
