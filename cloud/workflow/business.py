"""Businesses served by flows: what a business key does with its submissions — check the form
at submission, and act on the outcome in the same transaction as the final approval (or the
rejection, or the withdrawal), so that "approved" and its effect commit together or not at
all."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.audit import Origin
from cloud.identity.principal import Principal
from cloud.workflow.flows import Step

__all__ = [
    "BUSINESSES",
    "Business",
    "Hook",
    "HookContext",
    "Instance",
    "Reveal",
    "Submission",
    "Validator",
    "register_business",
]


@dataclass(frozen=True)
class Instance:
    """A flow instance as a business's hooks see it."""

    id: str
    business_key: str
    record_id: str | None
    applicant_id: str
    department_id: str | None
    form: Mapping[str, Any]
    result: Mapping[str, Any]
    status: str


@dataclass(frozen=True)
class HookContext:
    """A hook's call: the change's own connection (its writes commit with the approval),
    the instance, who made the deciding action, and from where."""

    conn: AsyncConnection
    instance: Instance
    actor: Principal
    origin: Origin
    now_ms: int


@dataclass(frozen=True)
class Submission:
    """A form as its business accepted it: the normalised form, the record it concerns (None:
    made on approval) and the title the lists show."""

    form: dict[str, Any]
    record_id: str | None
    title: str


# checks a form at submission and at resubmission (422 on a wrong one)
Validator = Callable[[AsyncConnection, Principal, Mapping[str, Any]], Awaitable[Submission]]
# acts on an outcome; what it returns is merged into the instance's `result`
Hook = Callable[[HookContext], Awaitable[Mapping[str, Any] | None]]
# what the applicant sees once on the finished instance (an initial password); may write
Reveal = Callable[[AsyncConnection, Instance], Awaitable[Mapping[str, Any] | None]]


@dataclass(frozen=True)
class Business:
    """A business key and its hooks. `default_steps`: the flow created, if there is none, at
    the first submission (code = the business key), for administrators to configure after."""

    key: str
    label: str
    start_permission: str | None = None
    validate: Validator | None = None
    on_approved: Hook | None = None
    on_rejected: Hook | None = None
    on_withdrawn: Hook | None = None
    reveal: Reveal | None = None
    default_steps: tuple[Step, ...] = field(default_factory=tuple)


BUSINESSES: dict[str, Business] = {}


def register_business(business: Business) -> Business:
    """Declare a business key (at import of its module); twice is a programming error."""
    if business.key in BUSINESSES and BUSINESSES[business.key] is not business:
        raise ValueError(f"business key {business.key!r} registered twice")
    BUSINESSES[business.key] = business
    return business
