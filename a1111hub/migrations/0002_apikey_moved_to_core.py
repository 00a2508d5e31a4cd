# ApiKey now belongs to the core app (core 0001 took it over); the table stays.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("a1111hub", "0001_initial"),
        ("core", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="ApiKey")]),
    ]
