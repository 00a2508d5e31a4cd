from django.db import migrations, models


class Migration(migrations.Migration):
    """Compressed copies and grids of results; retention and quota pruning."""

    dependencies = [
        ("generation_app", "0007_job_needs"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="images_pruned_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="job",
            name="images_pruned_reason",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name="jobimage",
            name="compressed",
            field=models.CharField(
                blank=True, help_text="A JPEG under HUB_COMPRESSED_MAX_BYTES.", max_length=300
            ),
        ),
        migrations.AddField(
            model_name="jobimage",
            name="bytes",
            field=models.PositiveBigIntegerField(default=0, help_text="All its stored files."),
        ),
        migrations.AddField(
            model_name="jobimage",
            name="variants",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text="original/thumbnail/compressed: bytes, size, type.",
            ),
        ),
        migrations.AlterField(
            model_name="jobimage",
            name="file",
            field=models.CharField(help_text="Name in the default storage.", max_length=300),
        ),
        migrations.AlterField(
            model_name="jobimage",
            name="role",
            field=models.CharField(
                choices=[
                    ("image", "Image"),
                    ("control_map", "ControlNet detected map"),
                    ("extra", "Grid, mask or other extra"),
                    ("grid", "The hub's grid of the batch"),
                ],
                default="image",
                max_length=20,
            ),
        ),
    ]
