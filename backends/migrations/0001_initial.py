# The Backend model moved here from generation_app. The table already exists (made by
# generation_app's 0001), so this only records the model in this app's state; generation_app
# 0003 drops the old current_job column, and 0002 here renames the table.

from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("generation_app", "0002_backend_from_config"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Backend",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("name", models.CharField(blank=True, max_length=100)),
                        ("url", models.URLField(help_text="Base URL, e.g. http://127.0.0.1:7860", unique=True)),
                        ("auth", models.CharField(blank=True, help_text="user:pass for A1111's --api-auth (blank: A1111_AUTH).", max_length=200)),
                        ("enabled", models.BooleanField(default=True)),
                        ("from_config", models.BooleanField(default=False, editable=False, help_text="Created from A1111_URL (disabled again when it is no longer named there).")),
                        ("healthy", models.BooleanField(default=True)),
                        ("is_simulator", models.BooleanField(default=False, editable=False)),
                        ("loaded_checkpoint", models.CharField(blank=True, editable=False, max_length=300)),
                        ("capabilities", models.JSONField(blank=True, default=dict, editable=False)),
                        ("last_checked_at", models.DateTimeField(blank=True, editable=False, null=True)),
                        ("last_error", models.TextField(blank=True, editable=False)),
                    ],
                    options={"ordering": ["id"], "db_table": "generation_app_backend"},
                ),
            ],
        ),
    ]
