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
