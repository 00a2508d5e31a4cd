"""The "shared" cache's table, when that cache is the database (no Redis): made by
migrate, so every way of starting the hub has it (createcachetable skips what exists)."""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("core", "0005_apikey_webhook_url")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
