"""The four roles, as Django groups, and the permissions each grants.

Role gates in views and services check these permissions, never group names, so that an admin can
compose roles differently without touching code.
"""

from django.db import models


class Role(models.TextChoices):
    REQUESTER = "Requester"
    DEPARTMENT_HEAD = "Department head"
    BUYER = "Buyer"
    PROCUREMENT_MANAGER = "Procurement manager"


# (app_label, codename) of the custom permissions declared on ProcurementRequest.Meta.
SUBMIT = ("requests_app", "submit_request")
APPROVE = ("requests_app", "approve_request")
WORK = ("requests_app", "work_request")
VIEW_ALL = ("requests_app", "view_all_requests")
VIEW_INTERNAL = ("requests_app", "view_internal_notes")
ASSIGN = ("requests_app", "assign_request")

ROLE_PERMISSIONS = {
    Role.REQUESTER: [SUBMIT],
    Role.DEPARTMENT_HEAD: [SUBMIT, APPROVE],
    Role.BUYER: [SUBMIT, WORK, VIEW_ALL, VIEW_INTERNAL],
    Role.PROCUREMENT_MANAGER: [SUBMIT, WORK, VIEW_ALL, VIEW_INTERNAL, ASSIGN],
}


def perm_name(permission):
    app_label, codename = permission
    return f"{app_label}.{codename}"


def has_role(user, permission):
    """Whether the user holds the role gate `permission` (e.g. WORK), remembered on the user object for
    the rest of the request, as Django remembers the permissions themselves: a queue page asks about
    two hundred times, and each `has_perm` walks every authentication backend."""
    if not user.is_authenticated:
        return False
    known = user.__dict__.setdefault("_roles_known", {})
    if permission not in known:
        known[permission] = user.has_perm(perm_name(permission))
    return known[permission]


def roles_sync(*, group_model, permission_model, content_type_model):
    """Create the role groups and grant exactly their permissions (idempotent).

    Takes the model classes so that the data migration can pass its historical models.
    """
    content_type, _ = content_type_model.objects.get_or_create(app_label="requests_app", model="procurementrequest")
    for role, permissions in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role.value)
        granted = []
        for _app_label, codename in permissions:
            permission, _ = permission_model.objects.get_or_create(
                content_type=content_type,
                codename=codename,
                defaults={"name": codename.replace("_", " ").capitalize()},
            )
            granted.append(permission)
        group.permissions.set(granted)
