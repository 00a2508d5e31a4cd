from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0001_initial"),
        ("a1111hub", "0002_apikey_moved_to_core"),
    ]

    operations = [
        migrations.AlterModelTable(name="apikey", table=None),
    ]
