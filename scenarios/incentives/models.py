"""Who staffs which venue, the pseudonymous holder references carried in credit codes, and the
redemptions (scanned, synced from an offline device, or 信易租 applications) with the counters
that keep each policy's limits."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model


class RedemptionStatus(StrEnum):
    REDEEMED = "redeemed"
    PENDING = "pending"  # a rental application waiting for the provider
    DECLINED = "declined"


class RedemptionSource(StrEnum):
    SCAN = "scan"
    OFFLINE = "offline"
    RENTAL = "rental"


class StaffAssignment(Model):
    """A user who works at a venue of config/programmes.toml (role venue_staff)."""

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "credit.User", related_name="venue_assignments", on_delete=fields.RESTRICT
    )
    user_id: int
    venue_id = fields.CharField(max_length=24)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "staff_assignment"
        unique_together = (("user_id", "venue_id"),)


class HolderRef(Model):
    """The pseudonym a credit code carries instead of anything personal. `active_key` is set
    while the reference is in use (one per subject, unique), cleared when the holder revokes it."""

    id = fields.BigIntField(primary_key=True)
    subject: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "credit.Subject", related_name="holder_refs", on_delete=fields.RESTRICT
    )
    subject_id: int
    ref = fields.CharField(max_length=24, unique=True)
    active_key = fields.CharField(max_length=24, null=True, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True, db_index=True)

    class Meta:
        table = "holder_ref"


class Redemption(Model):
    """One incentive granted (or applied for). The limits are unique slot keys: `visit_slot`
    (policy, code, n ≤ per_visit) and `day_slot` (policy, holder, day, n ≤ per_day), so two
    racing redemptions can never both take the last slot, on SQLite as on PostgreSQL."""

    id = fields.BigIntField(primary_key=True)
    policy_id = fields.CharField(max_length=24)
    venue_id = fields.CharField(max_length=24)
    scenario = fields.CharField(max_length=10)
    holder: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "credit.Subject", related_name="redemptions", on_delete=fields.RESTRICT
    )
    holder_id: int
    holder_ref = fields.CharField(max_length=24, null=True)
    status = fields.CharEnumField(RedemptionStatus, max_length=10)
    source = fields.CharEnumField(RedemptionSource, max_length=10)
    grade = fields.CharField(max_length=1, null=True)
    token_nonce = fields.CharField(max_length=24, null=True)
    staff_user_id = fields.BigIntField(null=True)
    applicant_user_id = fields.BigIntField(null=True)
    day = fields.DateField(null=True)
    redeemed_at = fields.DatetimeField(null=True)
    idem_key = fields.CharField(max_length=140, null=True, unique=True)
    visit_slot = fields.CharField(max_length=80, null=True, unique=True)
    day_slot = fields.CharField(max_length=80, null=True, unique=True)
    open_key = fields.CharField(max_length=80, null=True, unique=True)
    device_id = fields.CharField(max_length=64, null=True)
    flag = fields.CharField(max_length=30, null=True)
    note = fields.CharField(max_length=500, null=True)
    decision_note = fields.CharField(max_length=500, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "redemption"
        indexes = (("venue_id", "day"), ("policy_id", "holder_id", "day"), ("venue_id", "status"))


class PolicyCounter(Model):
    """Redemptions of a policy so far: a conditional UPDATE keeps the total quota."""

    policy_id = fields.CharField(max_length=24, primary_key=True)
    used = fields.IntField(default=0)

    class Meta:
        table = "policy_counter"
