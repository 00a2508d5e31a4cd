from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("generation_app", "0006_job_groups"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="needs",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="Capabilities needed beyond the kind's (adetailer).",
            ),
        ),
    ]
