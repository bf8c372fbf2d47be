from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index
from enum import StrEnum


# The enums as they were when this migration was made: a migration must not change when a
# model's enum does later.


class RecordClass(StrEnum):
    BASIC = "basic"
    POSITIVE = "positive"
    GENERAL_DISHONESTY = "general_dishonesty"
    SERIOUS_DISHONESTY = "serious_dishonesty"
    RISK = "risk"


class RecordSource(StrEnum):
    PLATFORM = "platform"
    SELF_REGISTERED = "self_registered"


class RecordStatus(StrEnum):
    PUBLISHED = "published"
    REPAIRED = "repaired"
    EXPIRED = "expired"
    REVOKED = "revoked"
    UNDER_OBJECTION = "under_objection"


class RecordType(StrEnum):
    LICENCE = "licence"
    PENALTY = "penalty"
    RED_LIST = "red_list"
    BLACK_LIST = "black_list"
    HONOUR = "honour"
    REGISTRATION = "registration"


class Severity(StrEnum):
    MINOR = "minor"
    GENERAL = "general"
    SERIOUS = "serious"


class SubjectKind(StrEnum):
    ENTERPRISE = "enterprise"
    INDIVIDUAL_BUSINESS = "individual_business"
    PERSON = "person"
    AGENCY = "agency"


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='AuditEntry',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('stream_id', fields.CharField(unique=True, max_length=40)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('action', fields.CharField(max_length=40)),
                ('actor_user_id', fields.BigIntField(null=True)),
                ('actor_kind', fields.CharField(max_length=20)),
                ('actor_role', fields.CharField(max_length=20)),
                ('actor_org', fields.CharField(null=True, max_length=200)),
                ('subject_id', fields.BigIntField(null=True, db_index=True)),
                ('purpose', fields.CharField(max_length=100)),
                ('channel', fields.CharField(max_length=40)),
                ('detail', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('prev_hash', fields.CharField(max_length=64)),
                ('hash', fields.CharField(unique=True, max_length=64)),
            ],
            options={'table': 'audit_entry', 'app': 'credit', 'pk_attr': 'id', 'table_description': 'Append-only, hash-chained: the hash of each entry covers its fields and the previous hash.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Subject',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharEnumField(description='ENTERPRISE: enterprise\nINDIVIDUAL_BUSINESS: individual_business\nPERSON: person\nAGENCY: agency', enum_type=SubjectKind, max_length=24)),
                ('name', fields.CharField(db_index=True, max_length=200)),
                ('natural_key', fields.CharField(unique=True, max_length=64)),
                ('uscc', fields.CharField(null=True, db_index=True, max_length=18)),
                ('uscc_check_ok', fields.BooleanField(default=True)),
                ('registration_no', fields.CharField(null=True, max_length=30)),
                ('id_number_enc', fields.TextField(null=True, unique=False)),
                ('id_number_index', fields.CharField(null=True, unique=True, max_length=40)),
                ('legal_representative', fields.CharField(null=True, max_length=100)),
                ('legal_representative_id_enc', fields.TextField(null=True, unique=False)),
                ('region', fields.CharField(null=True, max_length=6)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'subject', 'app': 'credit', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Record',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('subject', fields.ForeignKeyField('credit.Subject', source_field='subject_id', db_constraint=True, to_field='id', related_name='records', on_delete=OnDelete.RESTRICT)),
                ('record_class', fields.CharEnumField(description='BASIC: basic\nPOSITIVE: positive\nGENERAL_DISHONESTY: general_dishonesty\nSERIOUS_DISHONESTY: serious_dishonesty\nRISK: risk', enum_type=RecordClass, max_length=24)),
                ('type', fields.CharEnumField(description='LICENCE: licence\nPENALTY: penalty\nRED_LIST: red_list\nBLACK_LIST: black_list\nHONOUR: honour\nREGISTRATION: registration', enum_type=RecordType, max_length=16)),
                ('title', fields.CharField(max_length=200)),
                ('severity', fields.CharEnumField(null=True, description='MINOR: minor\nGENERAL: general\nSERIOUS: serious', enum_type=Severity, max_length=8)),
                ('decided_on', fields.DateField()),
                ('publish_min_until', fields.DateField(null=True)),
                ('publish_max_until', fields.DateField(null=True)),
                ('status', fields.CharEnumField(default=RecordStatus.PUBLISHED, description='PUBLISHED: published\nREPAIRED: repaired\nEXPIRED: expired\nREVOKED: revoked\nUNDER_OBJECTION: under_objection', enum_type=RecordStatus, max_length=16)),
                ('shared', fields.BooleanField(default=True)),
                ('source', fields.CharEnumField(default=RecordSource.PLATFORM, description='PLATFORM: platform\nSELF_REGISTERED: self_registered', enum_type=RecordSource, max_length=16)),
                ('authority', fields.CharField(max_length=200)),
                ('authority_uscc', fields.CharField(null=True, max_length=18)),
                ('source_unit', fields.CharField(null=True, max_length=200)),
                ('source_unit_uscc', fields.CharField(null=True, max_length=18)),
                ('document_no', fields.CharField(max_length=120)),
                ('natural_key', fields.CharField(unique=True, max_length=255)),
                ('content_hash', fields.CharField(max_length=64)),
                ('details', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'record', 'app': 'credit', 'indexes': [Index(fields=['subject_id', 'status'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('openid', fields.CharField(unique=True, max_length=64)),
                ('unionid', fields.CharField(null=True, max_length=64)),
                ('roles', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('is_demo', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('last_login_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'app_user', 'app': 'credit', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Consent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('credit.User', source_field='user_id', db_constraint=True, to_field='id', related_name='consents', on_delete=OnDelete.RESTRICT)),
                ('purpose', fields.CharField(max_length=40)),
                ('text_version', fields.CharField(max_length=20)),
                ('text_hash', fields.CharField(max_length=64)),
                ('accepted_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'consent', 'app': 'credit', 'pk_attr': 'id', 'table_description': 'A separate, recorded consent (PIPL): what text version the user accepted, and when.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='IdentityBinding',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.OneToOneField('credit.User', source_field='user_id', db_constraint=True, to_field='id', related_name='identity', on_delete=OnDelete.RESTRICT)),
                ('subject', fields.OneToOneField('credit.Subject', source_field='subject_id', db_constraint=True, to_field='id', related_name='binding', on_delete=OnDelete.RESTRICT)),
                ('consent', fields.ForeignKeyField('credit.Consent', source_field='consent_id', db_constraint=True, to_field='id', related_name='bindings', on_delete=OnDelete.RESTRICT)),
                ('method', fields.CharField(default='wechat_face', max_length=20)),
                ('verify_id_hash', fields.CharField(null=True, max_length=64)),
                ('bound_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'identity_binding', 'app': 'credit', 'pk_attr': 'id', 'table_description': 'One person per WeChat user and one user per person: both sides unique.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SessionRecord',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('user', fields.ForeignKeyField('credit.User', source_field='user_id', db_constraint=True, to_field='id', related_name='sessions', on_delete=OnDelete.RESTRICT)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'session', 'app': 'credit', 'pk_attr': 'id', 'table_description': 'Durable trace of a login, while Redis holds the live session keyed by the token hash.'},
            bases=['Model'],
        ),
    ]
