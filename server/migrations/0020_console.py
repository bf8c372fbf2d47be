from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from enum import StrEnum


# The enum as it was when this migration was made: a migration must not change when a model's
# enum does later.


class ApplicationStatus(StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    APPROVED = "approved"
    DENIED = "denied"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    SUPPLEMENTING = "supplementing"


STATUS_DESCRIPTION = 'SUBMITTED: submitted\nACCEPTED: accepted\nAPPROVED: approved\nDENIED: denied\nREJECTED: rejected\nWITHDRAWN: withdrawn\nSUPPLEMENTING: supplementing'


class Migration(migrations.Migration):
    dependencies = [('credit', '0019_credit_reports')]

    initial = False

    operations = [
        # 补正 (issue 14 item 2): the reviewer asks for more documents, the clock stops until the
        # applicant answers. A new status (the column is a VARCHAR(16): no data changes) and what
        # the answer needs: the status it returns to, the working days the deadline had left, and
        # the applicant's deadline. Applications before never had one: NULL.
        ops.AlterField(
            model_name='Application',
            name='status',
            field=fields.CharEnumField(description=STATUS_DESCRIPTION, enum_type=ApplicationStatus, max_length=16),
        ),
        ops.AlterField(
            model_name='ApplicationEvent',
            name='status',
            field=fields.CharEnumField(description=STATUS_DESCRIPTION, enum_type=ApplicationStatus, max_length=16),
        ),
        ops.AddField(
            model_name='Application',
            name='supplement_from',
            field=fields.CharEnumField(description=STATUS_DESCRIPTION, null=True, enum_type=ApplicationStatus, max_length=16),
        ),
        ops.AddField(
            model_name='Application',
            name='supplement_days_left',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='Application',
            name='supplement_due_on',
            field=fields.DateField(null=True),
        ),
    ]
