"""Writes for departments and people."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import transaction

from .models import Department, Membership, Profile
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


UNCHANGED = object()


@transaction.atomic
def profile_update(*, user, actor, time_zone=UNCHANGED, away_until=UNCHANGED) -> Profile:
    """Change a person's own settings; only they, or someone allowed to change profiles, may.

    Fields left out stay as they are; the profile is created on first change.
    """
    if actor.pk != user.pk and not actor.has_perm("stakeholders.change_profile"):
        raise PermissionDenied("You can only change your own settings.")
    profile, _ = Profile.objects.select_for_update().get_or_create(user=user)
    changes = {
        field: value
        for field, value in (("time_zone", time_zone), ("away_until", away_until))
        if value is not UNCHANGED
    }
    for field, value in changes.items():
        setattr(profile, field, value if field != "time_zone" else (value or "").strip())
    if changes:
        profile.full_clean()
        profile.save(update_fields=list(changes))
    return profile
