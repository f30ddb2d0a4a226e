"""The two reflected CRC-16 variants the LED frame formats use (poly 0xA001)."""

from __future__ import annotations

__all__ = ["crc16_arc", "crc16_modbus"]


def crc16_arc(data: bytes) -> int:
    """CRC-16/ARC: reflected 0x8005 (0xA001), init 0 — Onbon BX frames."""
    return _crc16_reflected(data, 0x0000)


def crc16_modbus(data: bytes) -> int:
    """CRC-16/MODBUS: reflected 0x8005 (0xA001), init 0xFFFF — Modbus RTU."""
    return _crc16_reflected(data, 0xFFFF)


def _table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE: list[int] = []


def _crc16_reflected(data: bytes, crc: int) -> int:
    if not _TABLE:
        _TABLE.extend(_table())
    for byte in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
    return crc
