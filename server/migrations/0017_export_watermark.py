from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [('credit', '0016_integrity_reports')]

    initial = False

    operations = [
        # The export of decisions to the league platform (issue 14 item 5): its runs, and the
        # watermark of what was exported (unique application_id).
        ops.CreateModel(
            name='ExportBatch',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('created_by', fields.BigIntField(null=True)),
                ('since', fields.DateField()),
                ('count', fields.IntField(default=0)),
            ],
            options={'table': 'export_batch', 'app': 'credit', 'pk_attr': 'id', 'table_description': 'One run of the export of decisions to the league platform (issue 14 item 5): who ran it,'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ExportedDecision',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('application_id', fields.BigIntField(unique=True)),
                ('batch', fields.ForeignKeyField('credit.ExportBatch', source_field='batch_id', db_constraint=True, to_field='id', related_name='decisions', on_delete=OnDelete.RESTRICT)),
            ],
            options={'table': 'exported_decision', 'app': 'credit', 'pk_attr': 'id', 'table_description': 'The watermark: a decided application exported once, in one batch. The unique'},
            bases=['Model'],
        ),
    ]
