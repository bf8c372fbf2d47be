from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [('credit', '0011_feed_identifiers')]

    initial = False

    operations = [
        # A merchant's reply to a complaint goes through content security like the complaint
        # (issue 11 item 8): "review" holds it from the complainant until staff have decided.
        # Replies made before were never held: 'pass'.
        ops.AddField(
            model_name='Complaint',
            name='reply_moderation',
            field=fields.CharField(db_default='pass', max_length=8),
        ),
    ]
