from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('credit', '0018_mongolian_names')]

    initial = False

    operations = [
        # Credit reports (issue 13): what each said, its PDF and signature, and its revocation.
        ops.CreateModel(
            name='CreditReport',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('report_no', fields.CharField(unique=True, max_length=32)),
                ('subject', fields.ForeignKeyField('credit.Subject', source_field='subject_id', db_constraint=True, to_field='id', related_name='credit_reports', on_delete=OnDelete.RESTRICT)),
                ('owner', fields.ForeignKeyField('credit.User', source_field='owner_id', db_constraint=True, to_field='id', related_name='credit_reports', on_delete=OnDelete.RESTRICT)),
                ('purpose', fields.CharField(max_length=20)),
                ('issued_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('valid_until', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('content', fields.TextField(unique=False)),
                ('fingerprint', fields.CharField(db_index=True, max_length=64)),
                ('canonical', fields.TextField(unique=False)),
                ('kid', fields.CharField(max_length=16)),
                ('signature', fields.CharField(max_length=120)),
                ('pdf_sha256', fields.CharField(max_length=64)),
                ('pdf', fields.BinaryField()),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_by', fields.BigIntField(null=True)),
                ('revoke_reason', fields.CharField(null=True, max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'credit_report', 'app': 'credit', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
