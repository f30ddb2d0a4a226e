"""Request bodies of the edge API: validated strictly, unknown fields refused."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sync.hallsetup import Booking

__all__ = [
    "BookingsRequest",
    "CheckInRequest",
    "EvaluationRequest",
    "FinishRequest",
    "IssueTicketRequest",
    "LoginRequest",
    "SupplementReturnRequest",
    "TransferRequest",
]

_PHONE = Field("", max_length=20, pattern=r"^[0-9+\-]*$")
_ID_NUMBER = Field("", max_length=18, pattern=r"^[0-9Xx]*$")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IssueTicketRequest(_Body):
    business_type: str = Field(min_length=1, max_length=64)
    green_channel: bool = Field(False, description="绿色通道, declared at the kiosk or by card")
    phone: str = _PHONE
    id_number: str = _ID_NUMBER
    area: str = Field(
        "", max_length=64, description="calling area; only for staff and remote tickets"
    )


class CheckInRequest(_Body):
    phone: str = _PHONE
    id_number: str = _ID_NUMBER
    code: str = Field("", max_length=32, description="booking code, as in the booking QR")


class SupplementReturnRequest(_Body):
    code: str = Field(min_length=4, max_length=16, description="补证补件 code given by the staff")


class LoginRequest(_Body):
    staff_no: str = Field("", max_length=32)
    password: str = Field("", max_length=128)
    card_no: str = Field("", max_length=64, description="staff card, read by a window device")


class FinishRequest(_Body):
    request_evaluation: bool = Field(False, description="结束并评价: ask the Pad for an evaluation")


class TransferRequest(_Body):
    business_type: str = Field(min_length=1, max_length=64)
    priority: bool = Field(False, description="the ticket keeps priority in the new queue")


class EvaluationRequest(_Body):
    level: Literal["very_satisfied", "satisfied", "basic", "dissatisfied"]


class BookingsRequest(_Body):
    bookings: list[Booking] = Field(max_length=100_000)
