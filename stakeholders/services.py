"""Writes for departments and people."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from .models import Department, Membership
from .roles import Role, roles_sync


def roles_ensure():
    """Create the role groups with their permissions if anything removed them (idempotent)."""
    roles_sync(group_model=Group, permission_model=Permission, content_type_model=ContentType)


@transaction.atomic
def person_upsert(*, username, department, roles, first_name="", last_name="", email="", password=None, job_title=""):
    """Create or update a user with one department membership and exactly the given roles."""
    user, created = get_user_model().objects.get_or_create(
        username=username, defaults={"first_name": first_name, "last_name": last_name, "email": email}
    )
    if created and password:
        user.set_password(password)
        user.save(update_fields=["password"])
    Membership.objects.update_or_create(user=user, defaults={"department": department, "job_title": job_title})
    user.groups.set(Group.objects.filter(name__in=[Role(role).value for role in roles]))
    return user


@transaction.atomic
def department_upsert(*, name, code, is_procurement=False):
    department, _ = Department.objects.get_or_create(
        code=code, defaults={"name": name, "is_procurement": is_procurement}
    )
    return department
