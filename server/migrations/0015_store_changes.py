from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('credit', '0014_person_names')]

    initial = False

    operations = [
        # Issue 12 item 3: an import tells the embedded default's serving process (whose cache
        # lives in that process) which subjects' cached views it made stale.
        ops.CreateModel(
            name='StoreChange',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('subject_ids', fields.TextField(unique=False)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'store_change', 'app': 'credit', 'pk_attr': 'id', 'table_description': 'Subjects whose cached views an import made stale, kept for serving processes whose cache'},
            bases=['Model'],
        ),
        ops.AlterModelOptions(
            name='Consent',
            options={'table': 'consent', 'app': 'credit', 'pk_attr': 'id', 'table_description': 'A separate, recorded consent (PIPL): what text version the user accepted, and when; and'},
        ),
    ]
