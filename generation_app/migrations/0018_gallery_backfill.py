"""Fill what the gallery and the queue order read for rows made before them (each image's
user, prompt and time from its job; each job's place = when it was queued), and on
PostgreSQL an index for the gallery's text search: GIN over (user_id, UPPER(prompt)
trigrams) — btree_gin lets one GIN index hold the user too, so a search of one user's
pictures intersects the user's posting list with the words' (``UPPER(prompt) LIKE`` is what
Django's ``icontains`` sends)."""

from django.db import migrations
from django.db.models import F, OuterRef, Subquery
from django.db.models.fields.json import KeyTextTransform

INDEX = "generation_app_jobimage_prompt_trgm"


def backfill(apps, schema_editor):
    Job = apps.get_model("generation_app", "Job")
    JobImage = apps.get_model("generation_app", "JobImage")
    Job.objects.update(queue_key=F("created_at"))
    jobs = Job.objects.filter(pk=OuterRef("job_id"))
    JobImage.objects.update(
        user_id=Subquery(jobs.values("user_id")[:1]),
        prompt=Subquery(
            jobs.annotate(text=KeyTextTransform("prompt", "payload")).values("text")[:1]
        ),
        created_at=Subquery(jobs.values("created_at")[:1]),
    )
    JobImage.objects.filter(prompt__isnull=True).update(prompt="")


def add_search_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON generation_app_jobimage "
            "USING gin (user_id, UPPER(prompt) gin_trgm_ops)"
        )


def drop_search_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("generation_app", "0017_gallery_and_my_queue")]

    operations = [
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.RunPython(add_search_index, drop_search_index),
    ]
