"""政务失信 reports and the history of their handling (issue 13 item 4).

The reporter's identity is kept apart from the report: a named report holds the reporter's user
(for their own list and messages) and their contact, encrypted; an anonymous one holds neither,
only the hash of the query code it was given once."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model

from infra.moderation import Moderation

# The associated data of a named reporter's encrypted contact (infra.security.crypto.FieldCipher).
REPORTER_FIELD = "integrity_report.reporter"


class ReportStatus(StrEnum):
    SUBMITTED = "submitted"  # 已提交，待受理
    ACCEPTED = "accepted"  # 已受理
    PROCESSING = "processing"  # 办理中
    CONCLUDED = "concluded"  # 办结 (with a result)
    REJECTED = "rejected"  # 不予受理 (with a reason)


OPEN_REPORT_STATUSES = (ReportStatus.SUBMITTED, ReportStatus.ACCEPTED, ReportStatus.PROCESSING)


class IntegrityReport(Model):
    id = fields.BigIntField(primary_key=True)
    # The agency of the store it is about, or None when the reporter named a body freely.
    agency: fields.ForeignKeyNullableRelation[Any] = fields.ForeignKeyField(
        "credit.Subject", related_name="integrity_reports", null=True, on_delete=fields.RESTRICT
    )
    agency_id: int | None
    agency_name = fields.CharField(max_length=200)
    category = fields.CharField(max_length=40)
    promise = fields.TextField()  # the promise broken, in the reporter's words
    amount = fields.DecimalField(max_digits=16, decimal_places=2, null=True)  # 元
    promised_on = fields.DateField(null=True)
    broken_on = fields.DateField(null=True)
    attachments: fields.JSONField[list[int]] = fields.JSONField(default=list)
    moderation = fields.CharEnumField(Moderation, max_length=8, default=Moderation.PASSED)
    status = fields.CharEnumField(ReportStatus, max_length=12, default=ReportStatus.SUBMITTED)
    anonymous = fields.BooleanField()
    # Named reports only: the reporter's user and contact (encrypted JSON), never shown to the
    # reported body.
    reporter_user_id = fields.BigIntField(null=True)
    reporter_enc = fields.TextField(null=True)
    # Anonymous reports only: sha256 of the query code shown once.
    query_code_hash = fields.CharField(max_length=64, null=True, unique=True)
    due_on = fields.DateField()  # the deadline of the step under way
    accept_due_on = fields.DateField()
    conclude_due_on = fields.DateField(null=True)
    accepted_at = fields.DatetimeField(null=True)
    concluded_at = fields.DatetimeField(null=True)
    concluded_on_time = fields.BooleanField(null=True)
    result = fields.TextField(null=True)  # 办结 result or 不予受理 reason, shown to the reporter
    decided_by = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "integrity_report"
        indexes = (("status", "id"), ("agency_id", "status"), ("reporter_user_id", "id"))


class IntegrityReportEvent(Model):
    """A status change: when, to what, by which role, and the note the reporter is shown. No
    user id of the reporter's own step (an anonymous report must not name its reporter)."""

    id = fields.BigIntField(primary_key=True)
    report: fields.ForeignKeyRelation[IntegrityReport] = fields.ForeignKeyField(
        "credit.IntegrityReport", related_name="events", on_delete=fields.RESTRICT
    )
    report_id: int
    at = fields.DatetimeField()
    status = fields.CharEnumField(ReportStatus, max_length=12)
    actor_role = fields.CharField(max_length=20)
    actor_user_id = fields.BigIntField(null=True)  # staff only
    note = fields.CharField(max_length=1000, null=True)

    class Meta:
        table = "integrity_report_event"
