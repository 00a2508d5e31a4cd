from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("generation_app", "0007_job_needs"),
    ]

    operations = [
        migrations.AlterField(
            model_name="job",
            name="kind",
            field=models.CharField(
                choices=[
                    ("txt2img", "Txt2Img"),
                    ("img2img", "Img2Img"),
                    ("inpaint", "Inpaint"),
                    ("outpaint", "Outpaint"),
                    ("controlnet", "Controlnet"),
                    ("regional", "Regional"),
                    ("upscale", "Upscale"),
                ],
                max_length=20,
            ),
        ),
    ]
