from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('credit', '0010_enterprise_authority')]

    initial = False

    operations = [
        # What the 双公示 feeds carry beyond the USCC (issue 10 item 9): the legal representative's
        # 证件类型, and 行政相对人代码_3…_6. All nullable: no default needed, no enum used.
        ops.AddField(
            model_name='Subject',
            name='legal_representative_id_type',
            field=fields.CharField(max_length=40, null=True),
        ),
        ops.AddField(
            model_name='Subject',
            name='org_code',
            field=fields.CharField(max_length=20, null=True),
        ),
        ops.AddField(
            model_name='Subject',
            name='tax_registration_no',
            field=fields.CharField(max_length=30, null=True),
        ),
        ops.AddField(
            model_name='Subject',
            name='institution_cert_no',
            field=fields.CharField(max_length=50, null=True),
        ),
        ops.AddField(
            model_name='Subject',
            name='social_org_cert_no',
            field=fields.CharField(max_length=50, null=True),
        ),
    ]
