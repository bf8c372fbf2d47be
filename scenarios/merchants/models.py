"""一店一码: merchants of the demonstration zones, their consumer complaints and the daily street
credit index of each zone (zones themselves live in config/zones.toml)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model


class MerchantStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    REJECTED = "rejected"


class ComplaintStatus(StrEnum):
    SUBMITTED = "submitted"
    REPLIED = "replied"
    UPHELD = "upheld"
    DISMISSED = "dismissed"


class Merchant(Model):
    """A shop with a plate. `code` is the opaque plate code (DESIGN.md §5), given at approval."""

    id = fields.BigIntField(primary_key=True)
    subject: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "credit.Subject", related_name="merchants", on_delete=fields.RESTRICT
    )
    subject_id: int
    operator: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "credit.User", related_name="merchants", on_delete=fields.RESTRICT
    )
    operator_id: int
    name = fields.CharField(max_length=100)
    # The name in traditional Mongolian script (issue 15), printed on the plate beside the
    # Chinese: given by the operator, corrected by staff ("" none yet); who gave it last.
    name_mn = fields.CharField(max_length=100, db_default="")
    name_mn_by = fields.CharField(max_length=8, db_default="")
    zone_id = fields.CharField(max_length=40, db_index=True)
    address = fields.CharField(max_length=200)
    category = fields.CharField(max_length=30)
    status = fields.CharEnumField(MerchantStatus, max_length=16, default=MerchantStatus.PENDING)
    status_note = fields.CharField(max_length=200, null=True)
    code = fields.CharField(max_length=32, null=True, unique=True)
    code_issued_on = fields.DateField(null=True)
    commitment_version = fields.CharField(max_length=20, null=True)
    commitment_hash = fields.CharField(max_length=64, null=True)
    commitment_accepted_at = fields.DatetimeField(null=True)
    reviewed_by = fields.BigIntField(null=True)
    reviewed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "merchant"
        indexes = (("zone_id", "status"),)


class Complaint(Model):
    """A consumer complaint: the merchant replies, staff uphold or dismiss it."""

    id = fields.BigIntField(primary_key=True)
    merchant: fields.ForeignKeyRelation[Merchant] = fields.ForeignKeyField(
        "credit.Merchant", related_name="complaints", on_delete=fields.RESTRICT
    )
    merchant_id: int
    complainant: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "credit.User", related_name="complaints", on_delete=fields.RESTRICT
    )
    complainant_id: int
    content = fields.TextField()
    attachments: fields.JSONField[list[int]] = fields.JSONField(default=list)
    moderation = fields.CharField(max_length=8, default="pass")
    status = fields.CharEnumField(ComplaintStatus, max_length=16, default=ComplaintStatus.SUBMITTED)
    reply = fields.TextField(null=True)
    # The merchant's reply through content security like the complaint: "review" shows it to
    # staff only until one has decided the complaint.
    reply_moderation = fields.CharField(max_length=8, db_default="pass")
    replied_at = fields.DatetimeField(null=True)
    decided_by = fields.BigIntField(null=True)
    decided_at = fields.DatetimeField(null=True)
    decision_note = fields.CharField(max_length=500, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "complaint"
        indexes = (("merchant_id", "status"),)


class ZoneIndexSnapshot(Model):
    """The street credit index of one zone on one day, with the parts it was computed from."""

    id = fields.BigIntField(primary_key=True)
    zone_id = fields.CharField(max_length=40)
    day = fields.DateField()
    value = fields.DecimalField(max_digits=6, decimal_places=2)
    parts: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "zone_index_snapshot"
        unique_together = (("zone_id", "day"),)
