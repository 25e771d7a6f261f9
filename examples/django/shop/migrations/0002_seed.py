"""Seed data: the member "admin" (so POST /signup/ with username=admin always
hits the deliberate IntegrityError) and three items (so /api/items/1/ exists)."""
from django.db import migrations

SEED_ITEMS = [
    ("Widget", 1250),
    ("Gadget", 4999),
    ("Gizmo", 799),
]


def seed(apps, schema_editor):
    Member = apps.get_model("shop", "Member")
    Item = apps.get_model("shop", "Item")
    Member.objects.get_or_create(username="admin")
    for name, price_cents in SEED_ITEMS:
        Item.objects.get_or_create(name=name, defaults={"price_cents": price_cents})


def unseed(apps, schema_editor):
    apps.get_model("shop", "Member").objects.filter(username="admin").delete()
    apps.get_model("shop", "Item").objects.filter(name__in=[name for name, _ in SEED_ITEMS]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("shop", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(seed, unseed),
    ]
