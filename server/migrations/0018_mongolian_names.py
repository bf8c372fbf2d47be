from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [('credit', '0017_export_watermark')]

    initial = False

    operations = [
        # A shop's name in traditional Mongolian script (issue 15): given by the operator when
        # registering, corrected by staff. Shops registered before have none ('').
        ops.AddField(
            model_name='Merchant',
            name='name_mn',
            field=fields.CharField(db_default='', max_length=100),
        ),
        ops.AddField(
            model_name='Merchant',
            name='name_mn_by',
            field=fields.CharField(db_default='', max_length=8),
        ),
    ]
