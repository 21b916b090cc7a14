"""Which SLA goal applies to a request, and the rules a policy's goals must keep.

Order of precedence: the active non-default policies by (position, name), each one's goals by
(position, id), then the default policy's goals, which end with a catch-all. The first goal whose
conditions all hold wins; an empty condition matches anything.
"""

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import transaction
from django.db.models import Q

from .models import SlaGoal, SlaPolicy

# The precedence above, as one ORDER BY: False (non-default) sorts before True (the default).
PRECEDENCE = ("policy__is_default", "policy__position", "policy__name", "position", "id")


def sla_goal_for(*, category_id, priority, department_id) -> SlaGoal:
    """The goal that applies to a request with these attributes; never None.

    Runs on every submission and every priority/category change, so it is one query: SQL filters
    the goals whose conditions hold, orders them by precedence and returns the first, with its
    policy and calendar joined in (the calendar's versions are not: `goal.calendar.to_clock()`
    costs one more query). Nothing is cached between calls, so an edit in the admin applies to the
    next request at once.
    """
    goal = (
        SlaGoal.objects.filter(Q(policy__is_active=True) | Q(policy__is_default=True))
        .filter(
            Q(category__isnull=True) | Q(category_id=category_id),
            Q(priority__isnull=True) | Q(priority=priority),
            Q(department__isnull=True) | Q(department_id=department_id),
        )
        .select_related("policy", "calendar")
        .order_by(*PRECEDENCE)
        .first()
    )
    if goal is None:
        raise ImproperlyConfigured(
            "No SLA goal matches this request: the default SLA policy must exist and end with a goal "
            "without conditions (Admin → Service levels → SLA policies)."
        )
    return goal


def _conditions(goal):
    return (goal.category_id, goal.priority or None, goal.department_id)


def _covers(earlier, later):
    """Every request `later` matches, `earlier` matches too (so `later` can never win)."""
    return all(first is None or first == second for first, second in zip(earlier, later, strict=True))


def sla_policy_check(*, policy, goals):
    """Raise ValidationError unless `goals` (in their order of precedence) make a sound policy.

    Every goal must be reachable (no earlier goal covers all its requests), and the default policy
    must end with a catch-all goal so that every request gets one. `policy` and `goals` may be
    unsaved, or historical models in a migration: only plain fields are read.
    """
    goals = list(goals)
    errors = []
    for index, goal in enumerate(goals):
        for earlier_index, earlier in enumerate(goals[:index]):
            if _covers(_conditions(earlier), _conditions(goal)):
                errors.append(
                    ValidationError(
                        "Goal %(later)s can never apply: goal %(earlier)s comes first and matches every request "
                        "it would. Move it up or remove it.",
                        code="unreachable_goal",
                        params={"later": index + 1, "earlier": earlier_index + 1},
                    )
                )
                break
    if policy.is_default and (not goals or any(_conditions(goals[-1]))):
        errors.append(
            ValidationError(
                "The default policy must end with a goal without conditions (no category, priority or "
                "department), so that every request has a goal.",
                code="catch_all_required",
            )
        )
    if errors:
        raise ValidationError(errors)


def sla_policy_goals_in_order(policy):
    """A saved policy's goals, in the order `sla_goal_for` tries them."""
    return list(policy.goals.order_by("position", "id"))


@transaction.atomic
def sla_policy_make_default(*, policy) -> SlaPolicy:
    """Make `policy` the default in one step (the previous default stops being it), once it is sound."""
    policy = SlaPolicy.objects.select_for_update().get(pk=policy.pk)
    if not policy.is_active:
        raise ValidationError("An inactive policy cannot be the default: activate it first.", code="inactive")
    sla_policy_check(policy=SlaPolicy(pk=policy.pk, is_default=True), goals=sla_policy_goals_in_order(policy))
    # Unset first: the database allows one default at a time, and this transaction never shows none.
    SlaPolicy.objects.filter(is_default=True).exclude(pk=policy.pk).update(is_default=False)
    if not policy.is_default:
        policy.is_default = True
        policy.save(update_fields=["is_default"])
    return policy


@transaction.atomic
def sla_policy_save(*, policy, goals, removed=(), actor=None) -> SlaPolicy:
    """Save a policy and its goals in their order of precedence (positions renumbered 10, 20, …).

    Refuses an unsound policy (see `sla_policy_check`). Running clocks keep the targets they started
    with: a changed goal applies to requests from now on, and to a running one when its priority or
    category changes. A removed goal's running clocks keep their targets but lose its warnings.
    """
    from django.contrib.admin.models import ADDITION, CHANGE, LogEntry

    created = policy.pk is None
    if not created:
        SlaPolicy.objects.select_for_update().get(pk=policy.pk)  # one editor at a time
    goals = list(goals)
    sla_policy_check(policy=policy, goals=goals)
    policy.save()
    for goal in removed:
        if goal.pk is not None:
            goal.delete()
    for position, goal in enumerate(goals, start=1):
        goal.policy = policy
        goal.position = position * 10
        goal.full_clean(exclude=["policy"])
        goal.save()
    if actor is not None:
        LogEntry.objects.log_actions(
            user_id=actor.pk,
            queryset=[policy],
            action_flag=ADDITION if created else CHANGE,
            change_message=f"Saved on the SLA settings page with {len(goals)} goal(s).",
            single_object=True,
        )
    return policy
