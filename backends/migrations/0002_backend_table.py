from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("backends", "0001_initial"),
        ("generation_app", "0003_backend_moved_lease"),
    ]

    operations = [
        migrations.AlterModelTable(name="backend", table=None),
    ]
