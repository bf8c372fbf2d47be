"""A credit report as issued: what it said (the content and the signed summary), the PDF itself
and its SHA-256, the signature, and whether it was revoked. Nothing is ever deleted."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class CreditReport(Model):
    id = fields.BigIntField(primary_key=True)
    # Unguessable (120 random bits): whoever holds the number may verify the report, no one can
    # find another's by trying numbers.
    report_no = fields.CharField(max_length=32, unique=True)
    subject: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "credit.Subject", related_name="credit_reports", on_delete=fields.RESTRICT
    )
    subject_id: int
    # The user who asked for it: the only one who may download the PDF (and revoke it, besides
    # an admin).
    owner: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "credit.User", related_name="credit_reports", on_delete=fields.RESTRICT
    )
    owner_id: int
    purpose = fields.CharField(max_length=20)
    issued_at = fields.DatetimeField()
    valid_until = fields.DatetimeField()
    # What the report shows, as canonical JSON (credit/report_content.py), and the fingerprint
    # under which an identical request gets this report back (config/reports.toml reuse_hours).
    content = fields.TextField()
    fingerprint = fields.CharField(max_length=64, db_index=True)
    # The signed summary (canonical JSON, qr/report_signing.py) and its Ed25519 signature.
    canonical = fields.TextField()
    kid = fields.CharField(max_length=16)
    signature = fields.CharField(max_length=120)
    pdf_sha256 = fields.CharField(max_length=64)
    pdf = fields.BinaryField()
    revoked_at = fields.DatetimeField(null=True)
    revoked_by = fields.BigIntField(null=True)
    revoke_reason = fields.CharField(max_length=200, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "credit_report"
