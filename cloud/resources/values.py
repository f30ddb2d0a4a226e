"""A field's values: what a caller sends turned into the stored Python value (or refused,
naming the field), and the stored value turned into JSON and into an Excel cell."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from cloud.resources.declare import Field, FieldError
from sync.idnumber import InvalidIdNumber, validate_id_number

__all__ = ["TEXT_KINDS", "cell", "parse_value", "plain"]

TEXT_KINDS = frozenset({"text", "textarea", "phone", "email", "id_number"})
_ID_LENGTH = 64  # refs and uploads: the length of an id column
_TEXT_LENGTH = 10_000  # a text field without its own limit
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}(-\d{1,6})?$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
# Excel holds no time zones: an exported moment is shown in the halls' time
_LOCAL = ZoneInfo("Asia/Shanghai")


def parse_value(field: Field, raw: Any) -> Any:
    """The value to store for what a caller sent as `field` (JSON, or the text of a query
    parameter); None for an empty value. Refuses with `FieldError` in Chinese."""
    if raw is None or (isinstance(raw, str) and not raw.strip() and field.kind != "textarea"):
        return None
    parser = _PARSERS[field.kind]
    try:
        value = parser(field, raw)
    except (ValueError, TypeError, InvalidOperation, ArithmeticError) as exc:
        if isinstance(exc, FieldError):
            raise
        raise FieldError(field.name, _WHAT[field.kind]) from None
    return value


def plain(value: Any) -> Any:
    """The stored value as JSON: dates and times in ISO 8601, decimals as strings."""
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def cell(field: Field, value: Any, label: str | None) -> Any:
    """The stored value as an Excel cell: choices and refs by their label, yes/no in
    Chinese, moments in the halls' time."""
    if value is None:
        return None
    if label is not None:
        return label
    if field.kind == "bool":
        return "是" if value else "否"
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(_LOCAL).replace(tzinfo=None)
    return value


# ---------------------------------------------------------------------------- helpers


def _text(field: Field, raw: Any) -> str:
    if not isinstance(raw, str):
        raise FieldError(field.name, "应为文本")
    value = raw if field.kind == "textarea" else raw.strip()
    limit = field.max_length or _TEXT_LENGTH
    if len(value) > limit:
        raise FieldError(field.name, f"不能超过 {limit} 个字")
    if any(ord(c) < 32 and c not in "\r\n\t" for c in value):
        raise FieldError(field.name, "含有不可见的控制字符")
    return value


def _int(field: Field, raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise FieldError(field.name, "应为整数")
    value = int(raw)
    _bounds(field, value)
    return value


def _decimal(field: Field, raw: Any) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise FieldError(field.name, "应为数字")
    value = Decimal(str(raw).strip())
    if not value.is_finite() or abs(value) >= Decimal(10) ** 15:
        raise FieldError(field.name, "应为有限的数字")
    _bounds(field, value)
    return value


def _bounds(field: Field, value: int | Decimal) -> None:
    if field.min is not None and value < field.min:
        raise FieldError(field.name, f"不能小于 {field.min}")
    if field.max is not None and value > field.max:
        raise FieldError(field.name, f"不能大于 {field.max}")


def _date(field: Field, raw: Any) -> dt.date:
    return dt.date.fromisoformat(_short(field, raw))


def _datetime(field: Field, raw: Any) -> dt.datetime:
    value = dt.datetime.fromisoformat(_short(field, raw))
    # a moment without its offset is one in the halls' time
    return value if value.tzinfo is not None else value.replace(tzinfo=_LOCAL)


def _time(field: Field, raw: Any) -> dt.time:
    return dt.time.fromisoformat(_short(field, raw))


def _short(field: Field, raw: Any) -> str:
    if not isinstance(raw, str) or len(raw) > 40:
        raise FieldError(field.name, _WHAT[field.kind])
    return raw.strip()


def _bool(field: Field, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    raise FieldError(field.name, "应为是或否")


def _choice(field: Field, raw: Any) -> str:
    if not isinstance(raw, str) or len(raw) > _ID_LENGTH:
        raise FieldError(field.name, "不是可选的值")
    value = raw.strip()
    # a dictionary's items are checked against the database by the service
    if field.options and value not in {v for v, _ in field.options}:
        raise FieldError(field.name, "不是可选的值")
    return value


def _id(field: Field, raw: Any) -> str:
    if not isinstance(raw, str) or len(raw.strip()) > _ID_LENGTH:
        raise FieldError(field.name, "不是有效的编号")
    return raw.strip()


def _phone(field: Field, raw: Any) -> str:
    value = _text(field, raw).replace(" ", "")
    if not (_MOBILE.match(value) or _LANDLINE.match(value)):
        raise FieldError(field.name, "不是有效的手机或固定电话号码")
    return value


def _email(field: Field, raw: Any) -> str:
    value = _text(field, raw)
    if not _EMAIL.match(value):
        raise FieldError(field.name, "不是有效的电子邮箱")
    return value


def _id_number(field: Field, raw: Any) -> str:
    try:
        return validate_id_number(_text(field, raw))
    except InvalidIdNumber as exc:
        raise FieldError(field.name, str(exc)) from None


_PARSERS = {
    "text": _text,
    "textarea": _text,
    "int": _int,
    "decimal": _decimal,
    "date": _date,
    "datetime": _datetime,
    "time": _time,
    "bool": _bool,
    "choice": _choice,
    "ref": _id,
    "phone": _phone,
    "email": _email,
    "id_number": _id_number,
    "file": _id,
    "image": _id,
}

_WHAT = {
    "text": "应为文本",
    "textarea": "应为文本",
    "int": "应为整数",
    "decimal": "应为数字",
    "date": "应为日期，如 2025-01-31",
    "datetime": "应为日期时间，如 2025-01-31T09:30:00+08:00",
    "time": "应为时间，如 09:30",
    "bool": "应为是或否",
    "choice": "不是可选的值",
    "ref": "不是有效的编号",
    "phone": "不是有效的电话号码",
    "email": "不是有效的电子邮箱",
    "id_number": "不是有效的身份证号码",
    "file": "不是有效的文件编号",
    "image": "不是有效的图片编号",
}
