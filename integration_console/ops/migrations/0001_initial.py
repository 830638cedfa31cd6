from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name='OverviewSnapshot',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('time_zone', models.CharField(max_length=64, unique=True)),
                ('counted_at', models.DateTimeField()),
                ('figures', models.JSONField(help_text='selectors.QueueFigures.to_json()')),
                ('recount_asked_at', models.DateTimeField(blank=True, null=True)),
            ],
        ),
    ]
