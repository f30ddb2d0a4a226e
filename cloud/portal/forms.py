"""Reading the portal's HTML forms: text fields, and the errors shown next to each field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FormErrors", "form_list", "form_text"]


@dataclass
class FormErrors:
    """What is wrong with a form, by field (`""`: the form as a whole), in Chinese."""

    by_field: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, message: str) -> None:
        self.by_field.setdefault(name, message)

    def __bool__(self) -> bool:
        return bool(self.by_field)


def form_text(form: Mapping[str, Any], name: str, longest: int = 2000) -> str:
    """A form field's text, stripped ("" when absent or a file); cut at `longest`."""
    value = form.get(name)
    return value.strip()[:longest] if isinstance(value, str) else ""


def form_list(form: Any, name: str) -> list[str]:
    """Every value of a repeated field (checkboxes)."""
    return [v for v in form.getall(name, []) if isinstance(v, str)]
