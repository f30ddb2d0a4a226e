"""The edge API's operations for the staff caller client (智慧政务客户端, §4.5, §5.1)."""

from __future__ import annotations

from edge.api.common import Operation

__all__ = ["CALLER_OPERATIONS"]

CALLER_OPERATIONS: tuple[Operation, ...] = ()
