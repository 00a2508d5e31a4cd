# Backend moved to the backends app; which job holds a backend is now a lease row owned by
# this app (a lower layer no longer points at jobs).

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


def job_facts_from_payloads(apps, schema_editor):
    """Jobs made before these fields existed: read them from the payload once."""
    Job = apps.get_model("generation_app", "Job")
    for job in Job.objects.filter(status__in=["queued", "running"]).iterator():
        job.checkpoint = (job.payload.get("override_settings") or {}).get("sd_model_checkpoint") or ""
        job.img2img = "init_images" in job.payload
        job.save(update_fields=["checkpoint", "img2img"])


class Migration(migrations.Migration):

    dependencies = [
        ("generation_app", "0002_backend_from_config"),
        ("backends", "0001_initial"),
    ]

    operations = [
        migrations.RemoveField(model_name="backend", name="current_job"),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="job",
                    name="backend",
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="jobs", to="backends.backend"),
                ),
                migrations.DeleteModel(name="Backend"),
            ],
        ),
        migrations.AddField(
            model_name="job",
            name="checkpoint",
            field=models.CharField(blank=True, help_text="The checkpoint title the job asks for, if any.", max_length=300),
        ),
        migrations.AddField(
            model_name="job",
            name="img2img",
            field=models.BooleanField(default=False, help_text="Runs on A1111's img2img route."),
        ),
        migrations.RunPython(job_facts_from_payloads, migrations.RunPython.noop),
        migrations.CreateModel(
            name="BackendLease",
            fields=[
                ("backend", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name="lease", serialize=False, to="backends.backend")),
                ("claimed_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("heartbeat_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("job", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name="lease", to="generation_app.job")),
            ],
        ),
    ]
