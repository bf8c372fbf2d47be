from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('credit', '0007_objection_new_facts')]

    initial = False

    operations = [
        # A repair names the proof of each obligation met (issue 10 item 5): proof code ->
        # uploads. Nullable: older repairs have none.
        ops.AddField(
            model_name='Application',
            name='proofs',
            field=fields.JSONField(null=True),
        ),
    ]
