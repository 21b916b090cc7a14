from decimal import Decimal

from django.db import migrations

# Rates to EUR are a starting point; procurement managers keep them current in the admin.
CURRENCIES = [
    ("EUR", "Euro", "1"),
    ("USD", "US dollar", "0.92"),
    ("GBP", "Pound sterling", "1.17"),
    ("CHF", "Swiss franc", "1.05"),
    ("SEK", "Swedish krona", "0.088"),
    ("PLN", "Polish złoty", "0.23"),
    ("JPY", "Japanese yen", "0.0062"),
    ("CNY", "Chinese yuan", "0.13"),
]

# (name, description, approval threshold in EUR or None for never)
CATEGORIES = [
    ("Goods", "Materials, parts, equipment and supplies under the capital threshold.", "5000"),
    ("Services", "Contractors, consultants, agencies, maintenance and other services.", "10000"),
    ("Software & SaaS", "Licences, subscriptions and cloud services.", "5000"),
    ("Capital equipment", "Machines, vehicles and assets that are capitalised.", "0"),
    ("Travel & events", "Venues, trade fairs, group travel and event services.", "2000"),
    ("Contract renewal", "Renewing or extending an existing supplier contract.", "25000"),
]


def create_reference_data(apps, schema_editor):
    Currency = apps.get_model("requests_app", "Currency")
    Category = apps.get_model("requests_app", "Category")
    for code, name, rate in CURRENCIES:
        Currency.objects.get_or_create(code=code, defaults={"name": name, "rate_to_base": Decimal(rate)})
    for position, (name, description, threshold) in enumerate(CATEGORIES):
        Category.objects.get_or_create(
            name=name,
            defaults={"description": description, "approval_threshold": Decimal(threshold), "position": position},
        )


class Migration(migrations.Migration):
    dependencies = [("requests_app", "0001_initial")]

    operations = [migrations.RunPython(create_reference_data, migrations.RunPython.noop)]
