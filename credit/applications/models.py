"""Applications a subject makes about its own record: voluntary registration (自愿注册), credit
repair (信用修复) and objection (异议), and the history of every status change."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model

from infra.moderation import Moderation


class ApplicationKind(StrEnum):
    REGISTRATION = "registration"
    REPAIR = "repair"
    OBJECTION = "objection"
    # 授权委托书 + 营业执照: the applicant asks to act for a market entity (credit/acting.py)
    AUTHORISATION = "authorisation"


class ApplicationStatus(StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    APPROVED = "approved"
    DENIED = "denied"
    REJECTED = "rejected"  # not accepted (不予受理)
    WITHDRAWN = "withdrawn"
    # 补正: the reviewer asked for more documents; the clock stops until the applicant answers
    SUPPLEMENTING = "supplementing"


# Still open (a record has one open application at most; the applicant may withdraw).
OPEN_STATUSES = (
    ApplicationStatus.SUBMITTED,
    ApplicationStatus.ACCEPTED,
    ApplicationStatus.SUPPLEMENTING,
)
# Open with the deadline's clock running: only these can be overdue (补正 stops the clock).
CLOCK_RUNNING = (ApplicationStatus.SUBMITTED, ApplicationStatus.ACCEPTED)


class ObjectionOutcome(StrEnum):
    CORRECTED = "corrected"
    REVOKED = "revoked"
    UPHELD = "upheld"


class Application(Model):
    """One application. `open_key` is set while it is open and unique, so a record never has two
    open applications, even when two requests race (SQLite has no SELECT … FOR UPDATE)."""

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharEnumField(ApplicationKind, max_length=16)
    status = fields.CharEnumField(ApplicationStatus, max_length=16)
    applicant: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "credit.User", related_name="applications", on_delete=fields.RESTRICT
    )
    applicant_id: int
    subject: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "credit.Subject", related_name="applications", on_delete=fields.RESTRICT
    )
    subject_id: int
    record: fields.ForeignKeyNullableRelation[Any] = fields.ForeignKeyField(
        "credit.Record", related_name="applications", null=True, on_delete=fields.RESTRICT
    )
    record_id: int | None
    category = fields.CharField(max_length=30, null=True)
    title = fields.CharField(max_length=100, null=True)
    text = fields.TextField()  # registration content, or the reason of a repair or objection
    # A second objection after a decision: its new facts, and the objection decided before.
    new_facts = fields.TextField(null=True)
    repeat_of = fields.BigIntField(null=True)
    moderation = fields.CharEnumField(Moderation, max_length=8, default=Moderation.PASSED)
    attachments: fields.JSONField[list[int]] = fields.JSONField(default=list)
    # a repair's proof code -> its uploads (also in attachments); None before issue 10 item 5
    proofs: fields.JSONField[dict[str, list[int]]] = fields.JSONField(null=True)
    commitment_version = fields.CharField(max_length=20, null=True)
    commitment_hash = fields.CharField(max_length=64, null=True)
    commitment_accepted_at = fields.DatetimeField(null=True)
    open_key = fields.CharField(max_length=40, null=True, unique=True)
    due_on = fields.DateField()
    decided_by = fields.BigIntField(null=True)
    decided_at = fields.DatetimeField(null=True)
    decision_note = fields.CharField(max_length=500, null=True)
    outcome = fields.CharEnumField(ObjectionOutcome, max_length=16, null=True)
    result_record_id = fields.BigIntField(null=True)  # the record an approved registration made
    # 补正 (while status is supplementing): the status the answer returns to, the working days
    # the deadline had left when the clock stopped, and the applicant's own deadline to answer.
    supplement_from = fields.CharEnumField(ApplicationStatus, max_length=16, null=True)
    supplement_days_left = fields.IntField(null=True)
    supplement_due_on = fields.DateField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    events: fields.ReverseRelation[ApplicationEvent]

    class Meta:
        table = "application"
        indexes = (("kind", "status"), ("applicant_id", "kind"))


class ApplicationEvent(Model):
    """A status change: who, when, to what, and the note the applicant is shown."""

    id = fields.BigIntField(primary_key=True)
    application: fields.ForeignKeyRelation[Application] = fields.ForeignKeyField(
        "credit.Application", related_name="events", on_delete=fields.RESTRICT
    )
    application_id: int
    at = fields.DatetimeField()
    status = fields.CharEnumField(ApplicationStatus, max_length=16)
    actor_user_id = fields.BigIntField()
    actor_role = fields.CharField(max_length=20)
    note = fields.CharField(max_length=500, null=True)

    class Meta:
        table = "application_event"


class ExportBatch(Model):
    """One run of the export of decisions to the league platform (issue 14 item 5): who ran it,
    from which decision date, how many decisions it took. Its CSV can be downloaded again."""

    id = fields.BigIntField(primary_key=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    created_by = fields.BigIntField(null=True)  # None: the command line
    since = fields.DateField()
    count = fields.IntField(default=0)

    class Meta:
        table = "export_batch"


class ExportedDecision(Model):
    """The watermark: a decided application exported once, in one batch. The unique
    `application_id` makes two exports racing each take disjoint decisions (the insert of the
    second is ignored for every row the first already has), on SQLite and PostgreSQL alike."""

    id = fields.BigIntField(primary_key=True)
    application_id = fields.BigIntField(unique=True)
    batch: fields.ForeignKeyRelation[ExportBatch] = fields.ForeignKeyField(
        "credit.ExportBatch", related_name="decisions", on_delete=fields.RESTRICT
    )
    batch_id: int

    class Meta:
        table = "exported_decision"
