from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [('credit', '0013_wechat_messages')]

    initial = False

    operations = [
        # Natural persons' names encrypted at rest like their ID numbers (issue 12 item 7): the
        # ciphertext here, the masked form in subject.name / subject.legal_representative. Rows
        # stored before are sealed at the next start (credit.person_names.seal_stored_names:
        # a migration holds no key).
        ops.AddField(
            model_name='Subject',
            name='name_enc',
            field=fields.TextField(null=True),
        ),
        ops.AddField(
            model_name='Subject',
            name='legal_representative_enc',
            field=fields.TextField(null=True),
        ),
    ]
