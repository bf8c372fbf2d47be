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


class ComplaintStatus(StrEnum):
    SUBMITTED = "submitted"
    REPLIED = "replied"
    UPHELD = "upheld"
    DISMISSED = "dismissed"


class MerchantStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    REJECTED = "rejected"


class Migration(migrations.Migration):
    dependencies = [('credit', '0003_applications')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Merchant',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('subject', fields.ForeignKeyField('credit.Subject', source_field='subject_id', db_constraint=True, to_field='id', related_name='merchants', on_delete=OnDelete.RESTRICT)),
                ('operator', fields.ForeignKeyField('credit.User', source_field='operator_id', db_constraint=True, to_field='id', related_name='merchants', on_delete=OnDelete.RESTRICT)),
                ('name', fields.CharField(max_length=100)),
                ('zone_id', fields.CharField(db_index=True, max_length=40)),
                ('address', fields.CharField(max_length=200)),
                ('category', fields.CharField(max_length=30)),
                ('status', fields.CharEnumField(default=MerchantStatus.PENDING, description='PENDING: pending\nACTIVE: active\nSUSPENDED: suspended\nREVOKED: revoked\nREJECTED: rejected', enum_type=MerchantStatus, max_length=16)),
                ('status_note', fields.CharField(null=True, max_length=200)),
                ('code', fields.CharField(null=True, unique=True, max_length=32)),
                ('code_issued_on', fields.DateField(null=True)),
                ('commitment_version', fields.CharField(null=True, max_length=20)),
                ('commitment_hash', fields.CharField(null=True, max_length=64)),
                ('commitment_accepted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('reviewed_by', fields.BigIntField(null=True)),
                ('reviewed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'merchant', 'app': 'credit', 'indexes': [Index(fields=['zone_id', 'status'])], 'pk_attr': 'id', 'table_description': 'A shop with a plate. `code` is the opaque plate code (DESIGN.md §5), given at approval.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Complaint',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('merchant', fields.ForeignKeyField('credit.Merchant', source_field='merchant_id', db_constraint=True, to_field='id', related_name='complaints', on_delete=OnDelete.RESTRICT)),
                ('complainant', fields.ForeignKeyField('credit.User', source_field='complainant_id', db_constraint=True, to_field='id', related_name='complaints', on_delete=OnDelete.RESTRICT)),
                ('content', fields.TextField(unique=False)),
                ('attachments', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('moderation', fields.CharField(default='pass', max_length=8)),
                ('status', fields.CharEnumField(default=ComplaintStatus.SUBMITTED, description='SUBMITTED: submitted\nREPLIED: replied\nUPHELD: upheld\nDISMISSED: dismissed', enum_type=ComplaintStatus, max_length=16)),
                ('reply', fields.TextField(null=True, unique=False)),
                ('replied_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('decided_by', fields.BigIntField(null=True)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('decision_note', fields.CharField(null=True, max_length=500)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'complaint', 'app': 'credit', 'indexes': [Index(fields=['merchant_id', 'status'])], 'pk_attr': 'id', 'table_description': 'A consumer complaint: the merchant replies, staff uphold or dismiss it.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ZoneIndexSnapshot',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('zone_id', fields.CharField(max_length=40)),
                ('day', fields.DateField()),
                ('value', fields.DecimalField(max_digits=6, decimal_places=2)),
                ('parts', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'zone_index_snapshot', 'app': 'credit', 'unique_together': (('zone_id', 'day'),), 'pk_attr': 'id', 'table_description': 'The street credit index of one zone on one day, with the parts it was computed from.'},
            bases=['Model'],
        ),
    ]
