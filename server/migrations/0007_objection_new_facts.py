from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('credit', '0006_audit_hash_unindexed')]

    initial = False

    operations = [
        # A second objection to a record after a decision states its new facts and names the
        # objection decided before (issue 10 item 1). Both nullable: no default needed.
        ops.AddField(
            model_name='Application',
            name='new_facts',
            field=fields.TextField(null=True),
        ),
        ops.AddField(
            model_name='Application',
            name='repeat_of',
            field=fields.BigIntField(null=True),
        ),
    ]
