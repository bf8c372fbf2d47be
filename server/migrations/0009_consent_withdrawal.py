from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('credit', '0008_repair_proofs')]

    initial = False

    operations = [
        # A consent withdrawn (PIPL art. 15, DELETE /api/v1/me/identity) keeps its row, marked
        # with the time (issue 10 item 10). Nullable: no default needed.
        ops.AddField(
            model_name='Consent',
            name='withdrawn_at',
            field=fields.DatetimeField(null=True),
        ),
    ]
