# The API key model moved here from the a1111hub app. The table already exists (made by
# a1111hub's 0001), so this only records the model in core's state; 0002 renames the table.

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("a1111hub", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ApiKey",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("name", models.CharField(max_length=100)),
                        ("kind", models.CharField(choices=[("service", "Service (may act for any user)"), ("user", "User (only its own user id)")], default="service", max_length=10)),
                        ("user_id", models.CharField(blank=True, help_text="For user keys: the user id this key acts for.", max_length=200)),
                        ("prefix", models.CharField(db_index=True, editable=False, max_length=16)),
                        ("key_hash", models.CharField(editable=False, max_length=64, unique=True)),
                        ("is_active", models.BooleanField(default=True)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                        ("last_used_at", models.DateTimeField(blank=True, editable=False, null=True)),
                    ],
                    options={
                        "verbose_name": "API key",
                        "ordering": ["-created_at"],
                        "db_table": "a1111hub_apikey",
                    },
                ),
            ],
        ),
    ]
