from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('credit', '0012_complaint_reply_moderation')]

    initial = False

    operations = [
        # Issue 11 items 2-5: subscription credits per user and template, the two reports of one
        # acceptance paired, receipts of WeChat's pushes (replays ignored), and the outbox row as
        # the message-centre entry.
        ops.CreateModel(
            name='SubscriptionCredit',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('openid', fields.CharField(max_length=64)),
                ('template_id', fields.CharField(max_length=64)),
                ('credits', fields.IntField(default=0)),
                ('last_result', fields.CharField(null=True, max_length=10)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'subscription_credit', 'app': 'credit', 'unique_together': (('openid', 'template_id'),), 'pk_attr': 'id', 'table_description': 'How many messages of a template WeChat will take for a user (one per acceptance of a'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SubscriptionGrant',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('openid', fields.CharField(max_length=64)),
                ('template_id', fields.CharField(max_length=64)),
                ('source', fields.CharField(max_length=8)),
                ('paired_with', fields.BigIntField(null=True)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'subscription_grant', 'app': 'credit', 'indexes': [Index(fields=['openid', 'template_id', 'at'])], 'pk_attr': 'id', 'table_description': "One acceptance as one source reported it: the mini-program (`client`) or WeChat's push"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WeChatPushReceipt',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('dedupe_key', fields.CharField(unique=True, max_length=120)),
                ('event', fields.CharField(max_length=40)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'wechat_push_receipt', 'app': 'credit', 'pk_attr': 'id', 'table_description': 'A message WeChat pushed to /wechat/push, by its MsgId (or sender and time for events):'},
            bases=['Model'],
        ),
        ops.AlterModelOptions(
            name='OutboxMessage',
            options={'table': 'outbox_message', 'app': 'credit', 'pk_attr': 'id', 'table_description': "A notification: the user's message-centre entry and the WeChat subscribe message that"},
        ),
        ops.AlterField(
            model_name='OutboxMessage',
            name='status',
            field=fields.CharField(default='pending', db_index=True, max_length=16),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='content',
            field=fields.CharField(null=True, max_length=500),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='credit_held',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='dedupe_key',
            field=fields.CharField(null=True, unique=True, max_length=100),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='delivery_result',
            field=fields.CharField(null=True, max_length=100),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='read_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='relevant_until',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='template_key',
            field=fields.CharField(null=True, max_length=40),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='title',
            field=fields.CharField(null=True, max_length=100),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='user_id',
            field=fields.BigIntField(null=True, db_index=True),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='wechat_msgid',
            field=fields.CharField(null=True, db_index=True, max_length=32),
        ),
        # The message centre lists a user's rows: give the rows made before this migration their
        # user, by the openid they were sent to.
        ops.RunSQL(
            "UPDATE outbox_message SET user_id = (SELECT app_user.id FROM app_user"
            " WHERE app_user.openid = outbox_message.openid) WHERE user_id IS NULL"
        ),
    ]
