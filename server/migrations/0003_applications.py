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


class ApplicationKind(StrEnum):
    REGISTRATION = "registration"
    REPAIR = "repair"
    OBJECTION = "objection"


class ApplicationStatus(StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    APPROVED = "approved"
    DENIED = "denied"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class Moderation(StrEnum):
    PASSED = "pass"
    REVIEW = "review"


class ObjectionOutcome(StrEnum):
    CORRECTED = "corrected"
    REVOKED = "revoked"
    UPHELD = "upheld"


class Migration(migrations.Migration):
    dependencies = [('credit', '0002_uploads_outbox')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Application',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharEnumField(description='REGISTRATION: registration\nREPAIR: repair\nOBJECTION: objection', enum_type=ApplicationKind, max_length=16)),
                ('status', fields.CharEnumField(description='SUBMITTED: submitted\nACCEPTED: accepted\nAPPROVED: approved\nDENIED: denied\nREJECTED: rejected\nWITHDRAWN: withdrawn', enum_type=ApplicationStatus, max_length=16)),
                ('applicant', fields.ForeignKeyField('credit.User', source_field='applicant_id', db_constraint=True, to_field='id', related_name='applications', on_delete=OnDelete.RESTRICT)),
                ('subject', fields.ForeignKeyField('credit.Subject', source_field='subject_id', db_constraint=True, to_field='id', related_name='applications', on_delete=OnDelete.RESTRICT)),
                ('record', fields.ForeignKeyField('credit.Record', source_field='record_id', null=True, db_constraint=True, to_field='id', related_name='applications', on_delete=OnDelete.RESTRICT)),
                ('category', fields.CharField(null=True, max_length=30)),
                ('title', fields.CharField(null=True, max_length=100)),
                ('text', fields.TextField(unique=False)),
                ('moderation', fields.CharEnumField(default=Moderation.PASSED, description='PASSED: pass\nREVIEW: review', enum_type=Moderation, max_length=8)),
                ('attachments', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('commitment_version', fields.CharField(null=True, max_length=20)),
                ('commitment_hash', fields.CharField(null=True, max_length=64)),
                ('commitment_accepted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('open_key', fields.CharField(null=True, unique=True, max_length=40)),
                ('due_on', fields.DateField()),
                ('decided_by', fields.BigIntField(null=True)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('decision_note', fields.CharField(null=True, max_length=500)),
                ('outcome', fields.CharEnumField(null=True, description='CORRECTED: corrected\nREVOKED: revoked\nUPHELD: upheld', enum_type=ObjectionOutcome, max_length=16)),
                ('result_record_id', fields.BigIntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'application', 'app': 'credit', 'indexes': [Index(fields=['kind', 'status']), Index(fields=['applicant_id', 'kind'])], 'pk_attr': 'id', 'table_description': 'One application. `open_key` is set while it is open and unique, so a record never has two'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ApplicationEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('application', fields.ForeignKeyField('credit.Application', source_field='application_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.RESTRICT)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('status', fields.CharEnumField(description='SUBMITTED: submitted\nACCEPTED: accepted\nAPPROVED: approved\nDENIED: denied\nREJECTED: rejected\nWITHDRAWN: withdrawn', enum_type=ApplicationStatus, max_length=16)),
                ('actor_user_id', fields.BigIntField()),
                ('actor_role', fields.CharField(max_length=20)),
                ('note', fields.CharField(null=True, max_length=500)),
            ],
            options={'table': 'application_event', 'app': 'credit', 'pk_attr': 'id', 'table_description': 'A status change: who, when, to what, and the note the applicant is shown.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SubjectOperator',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('credit.User', source_field='user_id', db_constraint=True, to_field='id', related_name='operated_subjects', on_delete=OnDelete.RESTRICT)),
                ('subject', fields.ForeignKeyField('credit.Subject', source_field='subject_id', db_constraint=True, to_field='id', related_name='operators', on_delete=OnDelete.RESTRICT)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'subject_operator', 'app': 'credit', 'unique_together': (('user_id', 'subject_id'),), 'pk_attr': 'id', 'table_description': 'A user who acts for an organisation subject (法定代表人 or 经办人): may register its'},
            bases=['Model'],
        ),
    ]
