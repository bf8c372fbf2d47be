from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('credit', '0005_incentives')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='AuditEntry',
            name='hash',
            field=fields.CharField(max_length=64),
        ),
        # SQLite rebuilds the table for AlterField and loses its other indexes (tortoise 1.1.9);
        # the one on subject_id serves GET /me/credit/queries. A no-op on PostgreSQL.
        ops.RunSQL(
            'CREATE INDEX IF NOT EXISTS "idx_audit_entry_subject_595d7e" ON "audit_entry" ("subject_id")',
            reverse_sql='SELECT 1',
        ),
    ]
