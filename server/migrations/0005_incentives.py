from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index
from enum import StrEnum


# The enums as they were when this migration was made: a migration must not change when a
# model's enum does later.


class RedemptionSource(StrEnum):
    SCAN = "scan"
    OFFLINE = "offline"
    RENTAL = "rental"


class RedemptionStatus(StrEnum):
    REDEEMED = "redeemed"
    PENDING = "pending"
    DECLINED = "declined"


class Migration(migrations.Migration):
    dependencies = [('credit', '0004_merchants')]

    initial = False

    operations = [
        ops.CreateModel(
            name='HolderRef',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('subject', fields.ForeignKeyField('credit.Subject', source_field='subject_id', db_constraint=True, to_field='id', related_name='holder_refs', on_delete=OnDelete.RESTRICT)),
                ('ref', fields.CharField(unique=True, max_length=24)),
                ('active_key', fields.CharField(null=True, unique=True, max_length=24)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('revoked_at', fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'holder_ref', 'app': 'credit', 'pk_attr': 'id', 'table_description': 'The pseudonym a credit code carries instead of anything personal. `active_key` is set'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PolicyCounter',
            fields=[
                ('policy_id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=24)),
                ('used', fields.IntField(default=0)),
            ],
            options={'table': 'policy_counter', 'app': 'credit', 'pk_attr': 'policy_id', 'table_description': 'Redemptions of a policy so far: a conditional UPDATE keeps the total quota.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Redemption',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('policy_id', fields.CharField(max_length=24)),
                ('venue_id', fields.CharField(max_length=24)),
                ('scenario', fields.CharField(max_length=10)),
                ('holder', fields.ForeignKeyField('credit.Subject', source_field='holder_id', db_constraint=True, to_field='id', related_name='redemptions', on_delete=OnDelete.RESTRICT)),
                ('holder_ref', fields.CharField(null=True, max_length=24)),
                ('status', fields.CharEnumField(description='REDEEMED: redeemed\nPENDING: pending\nDECLINED: declined', enum_type=RedemptionStatus, max_length=10)),
                ('source', fields.CharEnumField(description='SCAN: scan\nOFFLINE: offline\nRENTAL: rental', enum_type=RedemptionSource, max_length=10)),
                ('grade', fields.CharField(null=True, max_length=1)),
                ('token_nonce', fields.CharField(null=True, max_length=24)),
                ('staff_user_id', fields.BigIntField(null=True)),
                ('applicant_user_id', fields.BigIntField(null=True)),
                ('day', fields.DateField(null=True)),
                ('redeemed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('idem_key', fields.CharField(null=True, unique=True, max_length=140)),
                ('visit_slot', fields.CharField(null=True, unique=True, max_length=80)),
                ('day_slot', fields.CharField(null=True, unique=True, max_length=80)),
                ('open_key', fields.CharField(null=True, unique=True, max_length=80)),
                ('device_id', fields.CharField(null=True, max_length=64)),
                ('flag', fields.CharField(null=True, max_length=30)),
                ('note', fields.CharField(null=True, max_length=500)),
                ('decision_note', fields.CharField(null=True, max_length=500)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'redemption', 'app': 'credit', 'indexes': [Index(fields=['venue_id', 'day']), Index(fields=['policy_id', 'holder_id', 'day']), Index(fields=['venue_id', 'status'])], 'pk_attr': 'id', 'table_description': 'One incentive granted (or applied for). The limits are unique slot keys: `visit_slot`'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StaffAssignment',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('credit.User', source_field='user_id', db_constraint=True, to_field='id', related_name='venue_assignments', on_delete=OnDelete.RESTRICT)),
                ('venue_id', fields.CharField(max_length=24)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'staff_assignment', 'app': 'credit', 'unique_together': (('user_id', 'venue_id'),), 'pk_attr': 'id', 'table_description': 'A user who works at a venue of config/programmes.toml (role venue_staff).'},
            bases=['Model'],
        ),
    ]
