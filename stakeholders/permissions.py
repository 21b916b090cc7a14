"""Who may read a department's directory page and who may change its relationship records.

Reading: a department's own staff (members and its head), every procurement staff member, and
everyone signed in when the department made its page public. Writing agreements and meetings is
the procurement managers' job; a department head signs off their own department's agreement; an
action item's owner closes it.
"""

from django.db.models import Q

from requests_app.permissions import is_manager, is_procurement_staff


def visible_departments_filter(user):
    """A Q over departments for the directory pages the user may read (nothing when signed out)."""
    if not user.is_authenticated or not user.is_active:
        return Q(pk__in=[])
    if is_procurement_staff(user):
        return Q()
    from .models import Membership

    # A subquery, not a join over members: a public department must not come back once per member.
    own = Membership.objects.filter(user_id=user.pk).values("department_id")
    return Q(pk__in=own) | Q(head_id=user.pk) | Q(directory_is_public=True)


def can_manage_relations(user):
    """Write agreements, plan and minute meetings, publish outcomes, add action items."""
    return is_manager(user)


def can_sign_off(user, department):
    return is_manager(user) or (user.is_authenticated and department.head_id == user.pk)


def can_update_action_item(user, item):
    return is_manager(user) or item.owner_id == user.pk


def can_close_follow_up(user, follow_up):
    """A low score's follow-up: its owner (the team lead) or a procurement manager."""
    return is_manager(user) or (user.is_authenticated and follow_up.owner_id == user.pk)


def visible_follow_ups_filter(user):
    """A Q over follow-ups the user may open: their own, or every one for a procurement manager."""
    if not user.is_authenticated or not user.is_active:
        return Q(pk__in=[])
    return Q() if is_manager(user) else Q(owner_id=user.pk)
