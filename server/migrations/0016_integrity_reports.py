from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from enum import StrEnum
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index



# Frozen copies of the enums this migration uses (a migration never changes with a model).
class ReportStatus(StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    PROCESSING = "processing"
    CONCLUDED = "concluded"
    REJECTED = "rejected"


class Moderation(StrEnum):
    PASSED = "pass"
    REVIEW = "review"


class RecordType(StrEnum):
    LICENCE = "licence"
    PENALTY = "penalty"
    RED_LIST = "red_list"
    BLACK_LIST = "black_list"
    HONOUR = "honour"
    REGISTRATION = "registration"
    GOV_DISHONESTY = "gov_dishonesty"


class Migration(migrations.Migration):
    dependencies = [('credit', '0015_store_changes')]

    initial = False

    operations = [
        # Issue 13 items 3-5: 政务失信 reports and their history; records of type gov_dishonesty
        # (agencies' 政务失信 from the platform feed); indexes for the public lists.
        ops.CreateModel(
            name='IntegrityReport',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('agency', fields.ForeignKeyField('credit.Subject', source_field='agency_id', null=True, db_constraint=True, to_field='id', related_name='integrity_reports', on_delete=OnDelete.RESTRICT)),
                ('agency_name', fields.CharField(max_length=200)),
                ('category', fields.CharField(max_length=40)),
                ('promise', fields.TextField(unique=False)),
                ('amount', fields.DecimalField(null=True, max_digits=16, decimal_places=2)),
                ('promised_on', fields.DateField(null=True)),
                ('broken_on', fields.DateField(null=True)),
                ('attachments', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('moderation', fields.CharEnumField(default=Moderation.PASSED, description='PASSED: pass\nREVIEW: review', enum_type=Moderation, max_length=8)),
                ('status', fields.CharEnumField(default=ReportStatus.SUBMITTED, description='SUBMITTED: submitted\nACCEPTED: accepted\nPROCESSING: processing\nCONCLUDED: concluded\nREJECTED: rejected', enum_type=ReportStatus, max_length=12)),
                ('anonymous', fields.BooleanField()),
                ('reporter_user_id', fields.BigIntField(null=True)),
                ('reporter_enc', fields.TextField(null=True, unique=False)),
                ('query_code_hash', fields.CharField(null=True, unique=True, max_length=64)),
                ('due_on', fields.DateField()),
                ('accept_due_on', fields.DateField()),
                ('conclude_due_on', fields.DateField(null=True)),
                ('accepted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('concluded_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('concluded_on_time', fields.BooleanField(null=True)),
                ('result', fields.TextField(null=True, unique=False)),
                ('decided_by', fields.BigIntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'integrity_report', 'app': 'credit', 'indexes': [Index(fields=['status', 'id']), Index(fields=['agency_id', 'status']), Index(fields=['reporter_user_id', 'id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='IntegrityReportEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('report', fields.ForeignKeyField('credit.IntegrityReport', source_field='report_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.RESTRICT)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('status', fields.CharEnumField(description='SUBMITTED: submitted\nACCEPTED: accepted\nPROCESSING: processing\nCONCLUDED: concluded\nREJECTED: rejected', enum_type=ReportStatus, max_length=12)),
                ('actor_role', fields.CharField(max_length=20)),
                ('actor_user_id', fields.BigIntField(null=True)),
                ('note', fields.CharField(null=True, max_length=1000)),
            ],
            options={'table': 'integrity_report_event', 'app': 'credit', 'pk_attr': 'id', 'table_description': 'A status change: when, to what, by which role, and the note the reporter is shown. No'},
            bases=['Model'],
        ),
        ops.AlterField(
            model_name='Record',
            name='type',
            field=fields.CharEnumField(description='LICENCE: licence\nPENALTY: penalty\nRED_LIST: red_list\nBLACK_LIST: black_list\nHONOUR: honour\nREGISTRATION: registration\nGOV_DISHONESTY: gov_dishonesty', enum_type=RecordType, max_length=16),
        ),
        ops.AddIndex(
            model_name='Subject',
            index=Index(fields=['kind', 'id']),
        ),
        ops.AddIndex(
            model_name='Record',
            index=Index(fields=['type', 'id']),
        ),
        ops.AddIndex(
            model_name='Record',
            index=Index(fields=['type', 'severity', 'id']),
        ),
        ops.AddIndex(
            model_name='Record',
            index=Index(fields=['type', 'decided_on']),
        ),
        ops.AddIndex(
            model_name='Record',
            index=Index(fields=['type', 'authority_uscc']),
        ),
    ]
