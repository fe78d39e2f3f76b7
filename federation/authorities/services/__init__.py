"""Writes of lawful requests (filing to closure), their access log and legal holds. Every
state change is audited."""

from federation.authorities.services.legal_holds import legal_hold_lift, legal_hold_place
from federation.authorities.services.requests import (
    MAX_SUBJECT_ITEMS,
    REMOVAL_ORDER_HOURS,
    FiledRequest,
    deadline_hours_for,
    lawful_request_acknowledge,
    lawful_request_answer,
    lawful_request_close,
    lawful_request_file,
    lawful_request_forward,
    lawful_request_refuse,
    lawful_request_validate,
    lawful_requests_remind_overdue,
)

__all__ = [
    "MAX_SUBJECT_ITEMS",
    "REMOVAL_ORDER_HOURS",
    "FiledRequest",
    "deadline_hours_for",
    "lawful_request_acknowledge",
    "lawful_request_answer",
    "lawful_request_close",
    "lawful_request_file",
    "lawful_request_forward",
    "lawful_request_refuse",
    "lawful_request_validate",
    "lawful_requests_remind_overdue",
    "legal_hold_lift",
    "legal_hold_place",
]
