"""Who may see which request, and who may do what to it.

Row visibility is a Q object so that lists, detail pages, attachments and exports share one rule;
a request outside it is answered with 404, the same as a missing one.
"""

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from stakeholders.roles import APPROVE, ASSIGN, SUBMIT, VIEW_ALL, VIEW_INTERNAL, WORK, has_role

from .models import CLAIMABLE_STATUSES, Status


def is_procurement_staff(user):
    return has_role(user, VIEW_ALL)


def can_view_internal(user):
    return has_role(user, VIEW_INTERNAL)


def can_submit(user):
    return has_role(user, SUBMIT)


def is_buyer(user):
    return user.is_authenticated and user.is_active and has_role(user, WORK)


def is_manager(user):
    return has_role(user, ASSIGN)


def _permission_filter(permission, prefix=""):
    app_label, codename = permission
    return Q(
        **{
            f"{prefix}groups__permissions__codename": codename,
            f"{prefix}groups__permissions__content_type__app_label": app_label,
        }
    ) | Q(
        **{
            f"{prefix}user_permissions__codename": codename,
            f"{prefix}user_permissions__content_type__app_label": app_label,
        }
    )


def buyers_filter(prefix=""):
    """A Q over users (or `prefix`-ed user relations) for active buyers, mirroring `is_buyer` in SQL.

    The role gate is a permission granted to groups (stakeholders.roles); a directly granted
    permission counts too. Use with .distinct(): the groups join can repeat a user.
    """
    return Q(**{f"{prefix}is_active": True}) & _permission_filter(WORK, prefix)


def leads_team_of(user, procurement_request):
    """The lead of the team that owns the request (select_related("team") to make this free)."""
    return (
        procurement_request.team_id is not None
        and procurement_request.team.lead_id == user.id
        and is_procurement_staff(user)
    )


def can_route(user, procurement_request):
    """Re-route and reassign: procurement managers, and the lead of the request's team."""
    return is_manager(user) or leads_team_of(user, procurement_request)


def can_set_availability(actor, buyer):
    """A buyer sets their own out-of-office date; a manager anyone's; a team lead their members'."""
    if not actor.is_authenticated or not actor.is_active:
        return False
    if is_manager(actor) or (actor.pk == buyer.pk and is_buyer(actor)):
        return True
    from .models import TeamMembership

    return is_procurement_staff(actor) and TeamMembership.objects.filter(team__lead=actor, user=buyer).exists()


def availability_subjects(actor):
    """The buyers whose out-of-office date `actor` may set, for a form's choices."""
    from django.contrib.auth import get_user_model

    buyers = get_user_model().objects.filter(buyers_filter())
    if not is_manager(actor):
        rule = Q(pk=actor.pk) if is_buyer(actor) else Q(pk__in=[])
        if is_procurement_staff(actor):
            rule |= Q(team_memberships__team__lead=actor)
        buyers = buyers.filter(rule)
    return buyers.distinct().order_by("first_name", "last_name", "username")


def user_department_id(user):
    membership = getattr(user, "membership", None) if user.is_authenticated else None
    return membership.department_id if membership else None


def headed_department_ids(user):
    """Departments whose requests this user approves (cached on the user for the request)."""
    if not user.is_authenticated:
        return frozenset()
    if not hasattr(user, "_headed_department_ids"):
        from stakeholders.models import Department

        ids = Department.objects.headed_by(user).values_list("id", flat=True) if has_role(user, APPROVE) else []
        user._headed_department_ids = frozenset(ids)
    return user._headed_department_ids


def can_view_scorecard(user, department):
    """A department's SLA scorecard: its head, and Procurement (anyone else gets a 404)."""
    if not user.is_authenticated or not user.is_active:
        return False
    return is_procurement_staff(user) or department.pk in headed_department_ids(user)


def visible_requests_filter(user):
    if not user.is_authenticated or not user.is_active:
        return Q(pk__in=[])
    if is_procurement_staff(user):
        return Q()
    rule = Q(requester=user)
    department_id = user_department_id(user)
    if department_id:
        rule |= Q(department_id=department_id, is_confidential=False)
    headed = headed_department_ids(user)
    if headed:
        rule |= Q(department_id__in=headed)
    return rule


def can_view(user, procurement_request):
    if not user.is_authenticated or not user.is_active:
        return False
    if is_procurement_staff(user) or procurement_request.requester_id == user.id:
        return True
    if procurement_request.department_id in headed_department_ids(user):
        return True
    return procurement_request.department_id == user_department_id(user) and not procurement_request.is_confidential


def _holds(permission):
    """Whether the outer user holds the permission (through a group or directly), as EXISTS subqueries:
    unlike joins, they neither multiply rows nor make the planner build the product of every relation."""
    from django.contrib.auth.models import Permission

    app_label, codename = permission
    granted = Permission.objects.filter(codename=codename, content_type__app_label=app_label)
    return Exists(granted.filter(group__user=OuterRef("pk"))) | Exists(granted.filter(user=OuterRef("pk")))


def viewers_filter(procurement_request):
    """A Q over users: who may see this request, `can_view` in SQL.

    Notices go only to people it admits, so a confidential request never reaches a colleague.
    """
    from stakeholders.models import Department

    heads_it = Exists(Department.objects.filter(pk=procurement_request.department_id, head=OuterRef("pk")))
    rule = Q(pk=procurement_request.requester_id) | _holds(VIEW_ALL) | (heads_it & _holds(APPROVE))
    if not procurement_request.is_confidential:
        rule |= Q(membership__department_id=procurement_request.department_id)
    return Q(is_active=True) & rule


def can_watch(user, procurement_request):
    """Anyone who can see a request may follow it (its requester hears of everything anyway)."""
    return can_view(user, procurement_request) and procurement_request.requester_id != user.id


def can_add_watchers(user, procurement_request):
    """The requester and the buyer working it (or a manager) add colleagues as followers."""
    return can_view(user, procurement_request) and (
        procurement_request.requester_id == user.id or _works_it(user, procurement_request)
    )


def watcher_candidates(procurement_request):
    """The people who could be added as followers: active, able to see it, not following yet, and not the
    requester or the buyer (they hear of it anyway)."""
    from django.contrib.auth import get_user_model

    return (
        get_user_model()
        .objects.filter(viewers_filter(procurement_request))
        .exclude(watching__procurement_request=procurement_request)
        .exclude(pk__in=[procurement_request.requester_id, procurement_request.assignee_id or 0])
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


def is_requester_side(user, procurement_request):
    """The requester, or the department's head: the people Procurement serves on this request."""
    return procurement_request.requester_id == user.id or procurement_request.department_id in headed_department_ids(
        user
    )


def can_reply(user, procurement_request):
    return can_view(user, procurement_request) and (
        is_requester_side(user, procurement_request) or is_buyer(user) or is_manager(user)
    )


def _works_it(user, procurement_request):
    return is_manager(user) or (is_buyer(user) and procurement_request.assignee_id == user.id)


def head_can_approve(procurement_request):
    """Whether the department head can decide this request (exists, active, and did not file it)."""
    head = procurement_request.department.head
    return head is not None and head.is_active and head.pk != procurement_request.requester_id


def _approves_it(user, procurement_request):
    # Nobody approves their own request: a head's own request goes to a procurement manager.
    if procurement_request.requester_id == user.id:
        return False
    if procurement_request.department_id in headed_department_ids(user):
        return True
    # A department whose head cannot decide must not be blocked: a procurement manager stands in.
    return is_manager(user) and not head_can_approve(procurement_request)


def _within_reopen_window(procurement_request):
    if procurement_request.completed_at is None:
        return False
    age = timezone.now() - procurement_request.completed_at
    return age.days < settings.REOPEN_WINDOW_DAYS


# Who may perform each action; the status table (models.TRANSITIONS) says *when*.
ACTION_RULES = {
    "approve": _approves_it,
    "reject": _approves_it,
    "claim": lambda user, pr: is_buyer(user),
    "assign": can_route,
    "reroute": can_route,
    "start": _works_it,
    "wait_for_requester": _works_it,
    "wait_for_supplier": _works_it,
    "resume": _works_it,
    "mark_ordered": _works_it,
    "complete": _works_it,
    "reprioritise": _works_it,
    "close": lambda user, pr: pr.requester_id == user.id or _works_it(user, pr),
    "cancel": lambda user, pr: is_requester_side(user, pr) or is_manager(user),
    "reopen": lambda user, pr: (pr.requester_id == user.id and _within_reopen_window(pr)) or _works_it(user, pr),
}

# The status each action moves to; "assign"/"claim" move to ASSIGNED only from an unworked status.
ACTION_TARGETS = {
    "approve": Status.APPROVED,
    "reject": Status.REJECTED,
    "claim": Status.ASSIGNED,
    "assign": Status.ASSIGNED,
    "start": Status.IN_PROGRESS,
    "wait_for_requester": Status.WAITING_FOR_REQUESTER,
    "wait_for_supplier": Status.WAITING_FOR_SUPPLIER,
    "resume": Status.IN_PROGRESS,
    "mark_ordered": Status.ORDERED,
    "complete": Status.COMPLETED,
    "close": Status.CLOSED,
    "cancel": Status.CANCELLED,
    "reopen": Status.IN_PROGRESS,
}


def can_set_expected_date(user, procurement_request):
    """The buyer working the request (or a manager) tells the requester when to expect it, while it is open."""
    if not user.is_authenticated or not user.is_active:
        return False
    workable = procurement_request.is_open and procurement_request.status != Status.PENDING_APPROVAL
    return workable and _works_it(user, procurement_request)


def action_is_legal(action, procurement_request):
    """Whether the status table allows the action now (regardless of who asks)."""
    if action == "claim":
        # A request someone already took is a state ("too late"), not a matter of permission.
        return procurement_request.assignee_id is None and procurement_request.status in CLAIMABLE_STATUSES
    if action in ("assign", "reroute", "reprioritise"):
        return procurement_request.is_open and procurement_request.status != Status.PENDING_APPROVAL
    if action == "resume":
        return procurement_request.status in {Status.WAITING_FOR_REQUESTER, Status.WAITING_FOR_SUPPLIER, Status.ORDERED}
    if action == "reopen":
        return procurement_request.status == Status.COMPLETED
    if action == "start":
        return procurement_request.status == Status.ASSIGNED
    return procurement_request.can_move_to(ACTION_TARGETS[action])


def can_perform(user, action, procurement_request):
    if not user.is_authenticated or not user.is_active:
        return False
    return ACTION_RULES[action](user, procurement_request)


def available_actions(user, procurement_request):
    """The actions this user can take on this request right now, in lifecycle order (can_perform's checks, with
    the user's own checked once: a queue page asks this for every action of every row)."""
    if not user.is_authenticated or not user.is_active:
        return []
    return [
        action
        for action, rule in ACTION_RULES.items()
        if action_is_legal(action, procurement_request) and rule(user, procurement_request)
    ]
