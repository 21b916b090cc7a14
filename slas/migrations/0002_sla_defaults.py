from django.db import migrations


def create_sla_defaults(apps, schema_editor):
    # Imported here: the function is shared with the demo seed and takes the historical models.
    from slas.demo import sla_defaults_ensure

    sla_defaults_ensure(apps=apps)


class Migration(migrations.Migration):
    dependencies = [
        ("slas", "0001_initial"),
        # The capital policy's goals name the categories this migration creates.
        ("requests_app", "0002_reference_data"),
    ]

    operations = [migrations.RunPython(create_sla_defaults, migrations.RunPython.noop)]
