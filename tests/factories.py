"""factory_boy factories and small builders shared by every test module."""

import uuid
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from requests_app import services
from requests_app.models import Category, Currency
from stakeholders.models import Department, Membership
from stakeholders.roles import Role
from stakeholders.services import person_upsert, roles_ensure

PASSWORD = "correct-horse-battery"


class DepartmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Department
        django_get_or_create = ("code",)

    name = factory.Sequence(lambda n: f"Department {n}")
    code = factory.Sequence(lambda n: f"DEPT{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ("name",)

    name = "Goods"
    approval_threshold = Decimal("5000")


def euro():
    currency, _ = Currency.objects.get_or_create(code="EUR", defaults={"name": "Euro", "rate_to_base": Decimal("1")})
    return currency


def usd():
    currency, _ = Currency.objects.get_or_create(
        code="USD", defaults={"name": "US dollar", "rate_to_base": Decimal("0.92")}
    )
    return currency


def person(role, department, username=None, **fields):
    """A user of `department` holding exactly `role` (a stakeholders.roles.Role)."""
    roles_ensure()
    user = UserFactory(username=username or f"{Role(role).name.lower()}-{uuid.uuid4().hex[:6]}", **fields)
    person_upsert(username=user.username, department=department, roles=[role])
    user.refresh_from_db()
    if role == Role.DEPARTMENT_HEAD:
        Department.objects.filter(pk=department.pk).update(head=user)
        department.refresh_from_db()
    return user


def file_request(requester, **overrides):
    """Submit a request through the real service, as the portal does; returns it."""
    fields = {
        "title": "Laptops for new starters",
        "description": "Three laptops, standard spec.",
        "category": CategoryFactory(),
        "priority": "normal",
        "estimated_value": Decimal("1200.00"),
        "currency": euro(),
        "submission_token": uuid.uuid4(),
    }
    fields.update(overrides)
    procurement_request, _ = services.procurement_request_submit(requester=requester, **fields)
    return procurement_request


def membership_of(user):
    return Membership.objects.get(user=user)
