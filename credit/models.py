"""The credit store: subjects and the public credit records about them (DESIGN.md §1, §3)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model

from infra.models import User


class SubjectKind(StrEnum):
    ENTERPRISE = "enterprise"
    INDIVIDUAL_BUSINESS = "individual_business"
    PERSON = "person"
    AGENCY = "agency"


# 市场主体: their published records are public, they run the shops, and their market-regulation
# penalties are repaired in the national enterprise system. Natural persons never are any of it.
MARKET_ENTITY_KINDS = (SubjectKind.ENTERPRISE, SubjectKind.INDIVIDUAL_BUSINESS)


class RecordClass(StrEnum):
    BASIC = "basic"
    POSITIVE = "positive"
    GENERAL_DISHONESTY = "general_dishonesty"
    SERIOUS_DISHONESTY = "serious_dishonesty"
    RISK = "risk"


class RecordType(StrEnum):
    LICENCE = "licence"
    PENALTY = "penalty"
    RED_LIST = "red_list"
    BLACK_LIST = "black_list"
    HONOUR = "honour"
    REGISTRATION = "registration"
    GOV_DISHONESTY = "gov_dishonesty"  # 政务失信 of an agency (issue 13 item 5)


class Severity(StrEnum):
    MINOR = "minor"
    GENERAL = "general"
    SERIOUS = "serious"


SEVERITY_LABELS = {Severity.MINOR: "轻微", Severity.GENERAL: "一般", Severity.SERIOUS: "严重"}


class RecordStatus(StrEnum):
    PUBLISHED = "published"
    REPAIRED = "repaired"
    EXPIRED = "expired"
    REVOKED = "revoked"
    UNDER_OBJECTION = "under_objection"


class RecordSource(StrEnum):
    PLATFORM = "platform"
    SELF_REGISTERED = "self_registered"


# The associated data of a subject's encrypted ID number (infra.security.crypto.FieldCipher).
ID_NUMBER_FIELD = "subject.id_number"
# ... of a natural person's name and of an organisation's legal representative's name
# (credit/person_names.py).
PERSON_NAME_FIELD = "subject.name"
LEGAL_REP_NAME_FIELD = "subject.legal_representative"


class Subject(Model):
    id = fields.BigIntField(primary_key=True)
    kind = fields.CharEnumField(SubjectKind, max_length=24)
    # An organisation's name as registered (public). A natural person's: only the masked form
    # every response shows (乌*); the name itself is in name_enc (credit/person_names.py).
    name = fields.CharField(max_length=200, db_index=True)
    name_enc = fields.TextField(null=True)
    # "uscc:…", "reg:…" (individual business without a USCC) or "id:<blind index>" (person)
    natural_key = fields.CharField(max_length=64, unique=True)
    uscc = fields.CharField(max_length=18, null=True, db_index=True)
    uscc_check_ok = fields.BooleanField(default=True)
    registration_no = fields.CharField(max_length=30, null=True)
    id_number_enc = fields.TextField(null=True)
    id_number_index = fields.CharField(max_length=40, null=True, unique=True)
    # Masked (其**); the name itself is in legal_representative_enc.
    legal_representative = fields.CharField(max_length=100, null=True)
    legal_representative_enc = fields.TextField(null=True)
    # 法定代表人证件类型 (empty: the resident identity card); the number is the representative's,
    # never the key of a person subject.
    legal_representative_id_type = fields.CharField(max_length=40, null=True)
    legal_representative_id_enc = fields.TextField(null=True)
    # blind_index(id number, ID_NUMBER_FIELD): the same digest a bound person's id_number_index
    # holds, so "is this user the legal representative?" is an equality, with no decryption.
    legal_representative_id_index = fields.CharField(max_length=40, null=True, db_index=True)
    region = fields.CharField(max_length=6, null=True)
    # The other 行政相对人代码 of the 双公示 standard (not personal data).
    org_code = fields.CharField(max_length=20, null=True)  # 组织机构代码
    tax_registration_no = fields.CharField(max_length=30, null=True)  # 税务登记号
    institution_cert_no = fields.CharField(max_length=50, null=True)  # 事业单位证书号
    social_org_cert_no = fields.CharField(max_length=50, null=True)  # 社会组织登记证号
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    records: fields.ReverseRelation[Record]

    class Meta:
        table = "subject"
        # The 政务诚信 summary pages through the agencies among every subject.
        indexes = (("kind", "id"),)


class Record(Model):
    id = fields.BigIntField(primary_key=True)
    subject: fields.ForeignKeyRelation[Subject] = fields.ForeignKeyField(
        "credit.Subject", related_name="records", on_delete=fields.RESTRICT
    )
    subject_id: int
    record_class = fields.CharEnumField(RecordClass, max_length=24)
    type = fields.CharEnumField(RecordType, max_length=16)
    title = fields.CharField(max_length=200)
    severity = fields.CharEnumField(Severity, max_length=8, null=True)
    decided_on = fields.DateField()
    publish_min_until = fields.DateField(null=True)
    publish_max_until = fields.DateField(null=True)  # null: shown until revoked (e.g. 长期 licence)
    status = fields.CharEnumField(RecordStatus, max_length=16, default=RecordStatus.PUBLISHED)
    shared = fields.BooleanField(default=True)  # a repaired record is neither shown nor shared
    source = fields.CharEnumField(RecordSource, max_length=16, default=RecordSource.PLATFORM)
    authority = fields.CharField(max_length=200)
    authority_uscc = fields.CharField(max_length=18, null=True)
    source_unit = fields.CharField(max_length=200, null=True)
    source_unit_uscc = fields.CharField(max_length=18, null=True)
    document_no = fields.CharField(max_length=120)
    # Natural key of the feed, e.g. "penalty|<决定书文号>|<处罚机关USCC>": re-imports update it.
    natural_key = fields.CharField(max_length=255, unique=True)
    content_hash = fields.CharField(max_length=64)
    details: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "record"
        # The public lists (credit/public_lists.py) walk one type newest first, or one type
        # of one severity, within a date range or of one authority (1M records on PostgreSQL:
        # a page in 3-25 ms). A severity filter that matches almost nothing still walks the
        # primary key (540 ms at 1M): the planner takes type and severity as independent.
        indexes = (
            ("subject_id", "status"),
            ("type", "id"),
            ("type", "severity", "id"),
            ("type", "decided_on"),
            ("type", "authority_uscc"),
        )


class OperatorBasis(StrEnum):
    """How a user came to act for a market entity (credit/acting.py)."""

    LEGAL_REPRESENTATIVE = "legal_representative"  # bound identity = the stored 法定代表人
    POWER_OF_ATTORNEY = "power_of_attorney"  # 授权委托书 + 营业执照, approved by a reviewer
    # Made by a merchant approval before proof was required (migration 0008): gives no rights
    # until the user proves one of the two above.
    UNPROVEN = "unproven"


class SubjectOperator(Model):
    """A user who acts for an organisation subject (法定代表人 or 经办人): may register its
    information, apply to repair or object to its records and rent for it — when `basis` is a
    proof (credit/acting.py decides)."""

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "credit.User", related_name="operated_subjects", on_delete=fields.RESTRICT
    )
    user_id: int
    subject: fields.ForeignKeyRelation[Subject] = fields.ForeignKeyField(
        "credit.Subject", related_name="operators", on_delete=fields.RESTRICT
    )
    subject_id: int
    basis = fields.CharEnumField(OperatorBasis, max_length=24, db_default=OperatorBasis.UNPROVEN)
    application_id = fields.BigIntField(null=True)  # the approved authorisation request
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "subject_operator"
        unique_together = (("user_id", "subject_id"),)


class Consent(Model):
    """A separate, recorded consent (PIPL): what text version the user accepted, and when; and
    when they withdrew it."""

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "credit.User", related_name="consents", on_delete=fields.RESTRICT
    )
    user_id: int
    purpose = fields.CharField(max_length=40)
    text_version = fields.CharField(max_length=20)
    text_hash = fields.CharField(max_length=64)
    accepted_at = fields.DatetimeField(auto_now_add=True)
    withdrawn_at = fields.DatetimeField(null=True)  # PIPL art. 15: withdrawn, and when

    class Meta:
        table = "consent"


class IdentityBinding(Model):
    """One person per WeChat user and one user per person: both sides unique."""

    id = fields.BigIntField(primary_key=True)
    user: fields.OneToOneRelation[User] = fields.OneToOneField(
        "credit.User", related_name="identity", on_delete=fields.RESTRICT
    )
    user_id: int
    subject: fields.OneToOneRelation[Subject] = fields.OneToOneField(
        "credit.Subject", related_name="binding", on_delete=fields.RESTRICT
    )
    subject_id: int
    consent: fields.ForeignKeyRelation[Consent] = fields.ForeignKeyField(
        "credit.Consent", related_name="bindings", on_delete=fields.RESTRICT
    )
    consent_id: int
    method = fields.CharField(max_length=20, default="wechat_face")
    verify_id_hash = fields.CharField(max_length=64, null=True)
    bound_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "identity_binding"


class StoreChange(Model):
    """Subjects whose cached views an import made stale, kept for serving processes whose cache
    the importer cannot reach: the embedded default's in-process cache lives in `./dev serve`,
    not in `./dev import` (credit/store_changes.py). Written after the batch it describes."""

    id = fields.BigIntField(primary_key=True)
    subject_ids = fields.TextField()  # comma-separated
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "store_change"
