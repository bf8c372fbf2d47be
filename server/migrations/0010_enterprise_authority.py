from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from enum import StrEnum


# The enums as they were when this migration was made: a migration must not change when a
# model's enum does later.


class ApplicationKind(StrEnum):
    REGISTRATION = "registration"
    REPAIR = "repair"
    OBJECTION = "objection"
    AUTHORISATION = "authorisation"


class OperatorBasis(StrEnum):
    LEGAL_REPRESENTATIVE = "legal_representative"
    POWER_OF_ATTORNEY = "power_of_attorney"
    UNPROVEN = "unproven"


class Migration(migrations.Migration):
    dependencies = [('credit', '0009_consent_withdrawal')]

    initial = False

    operations = [
        # Who may act for an enterprise (issue 10 item 7): a request to act for one, reviewed
        # like the other applications.
        ops.AlterField(
            model_name='Application',
            name='kind',
            field=fields.CharEnumField(description='REGISTRATION: registration\nREPAIR: repair\nOBJECTION: objection\nAUTHORISATION: authorisation', enum_type=ApplicationKind, max_length=16),
        ),
        # The legal representative's ID number as a blind index (the digest a bound person's
        # id_number_index holds); filled by the importer, so a re-import fills existing rows.
        ops.AddField(
            model_name='Subject',
            name='legal_representative_id_index',
            field=fields.CharField(null=True, db_index=True, max_length=40),
        ),
        ops.AddField(
            model_name='SubjectOperator',
            name='application_id',
            field=fields.BigIntField(null=True),
        ),
        # Links made before this migration came from merchant approvals that checked nothing:
        # they become 'unproven' and give no rights until the user proves one.
        ops.AddField(
            model_name='SubjectOperator',
            name='basis',
            field=fields.CharEnumField(description='LEGAL_REPRESENTATIVE: legal_representative\nPOWER_OF_ATTORNEY: power_of_attorney\nUNPROVEN: unproven', db_default=OperatorBasis.UNPROVEN, enum_type=OperatorBasis, max_length=24),
        ),
    ]
