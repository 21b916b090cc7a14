"""Which team owns a new request, and which of its buyers gets it.

Rules are tried in position order; the first active rule whose conditions all hold wins (a rule
naming an inactive team is skipped). The default rule has no conditions and is tried last, so every
request lands somewhere. The rule's strategy then picks a buyer among the team's members who are
active buyers and not out of office today:

- least loaded: the fewest open requests, weighted by priority (PRIORITY_WEIGHTS); ties go to the
  member who has waited longest since their last assignment, then to the lowest user id;
- round robin: the next member after the one round robin assigned last, in user-id order;
- team queue: nobody; the request waits in the team's queue for a buyer to claim it.

When the strategy wants a buyer but nobody is available, the request waits in the team queue and the
timeline says why. Everything here reads (but the set-up in `routing_defaults_ensure`);
`services._route` applies a decision.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from django.apps import apps as global_apps
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Case, IntegerField, OuterRef, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import OPEN_STATUSES, BuyerTeam, Priority, ProcurementRequest, RequestEvent, RoutingRule, RoutingStrategy
from .permissions import buyers_filter

# How much an open request weighs on its buyer's load, in half-requests so that SQL sums integers:
# urgent 4, high 2, normal 1, low 0.5 requests. An urgent request is as much work as four normal ones.
PRIORITY_WEIGHTS = {Priority.URGENT: 8, Priority.HIGH: 4, Priority.NORMAL: 2, Priority.LOW: 1}
LOAD_UNIT = 2  # PRIORITY_WEIGHTS per request of weight 1

DEFAULT_TEAM = "Procurement"
DEFAULT_RULE = "Everything else"


def rules_in_order():
    """Active rules for active teams, in evaluation order (the default last), with what matching reads."""
    return RoutingRule.objects.filter(is_active=True, team__is_active=True).select_related("team")


def routing_rule_for(procurement_request, *, rules=None):
    """The first active rule in position order that matches the request, else the default (None if none)."""
    for rule in rules_in_order() if rules is None else rules:
        if rule.matches(procurement_request):
            return rule
    return None


def _money(amount):
    return f"{amount:,.0f}" if amount == amount.to_integral_value() else f"{amount:,.2f}"


def conditions_in_words(rule):
    """A rule's conditions as short phrases for people, e.g. ["category is Goods", "value 0–5,000 EUR"]."""
    if rule.is_default:
        return ["every request no rule above takes"]
    words = []
    if rule.category_id:
        words.append(f"category is {rule.category}")
    if rule.department_id:
        words.append(f"from {rule.department}")
    if rule.min_value is not None and rule.max_value is not None:
        words.append(f"value {_money(rule.min_value)}–{_money(rule.max_value)} EUR")
    elif rule.min_value is not None:
        words.append(f"value at least {_money(rule.min_value)} EUR")
    elif rule.max_value is not None:
        words.append(f"value at most {_money(rule.max_value)} EUR")
    if rule.currency_id:
        words.append(f"in {rule.currency_id}")
    if rule.keywords:
        words.append("title mentions " + " or ".join(f"“{word}”" for word in rule.keywords))
    return words


def _weighted_load():
    weight = Case(
        *[When(priority=priority, then=Value(points)) for priority, points in PRIORITY_WEIGHTS.items()],
        default=Value(PRIORITY_WEIGHTS[Priority.NORMAL]),
        output_field=IntegerField(),
    )
    open_work = (
        ProcurementRequest.objects.filter(assignee=OuterRef("pk"), status__in=OPEN_STATUSES)
        .order_by()
        .values("assignee")
        .annotate(load=Sum(weight))
        .values("load")
    )
    return Coalesce(Subquery(open_work, output_field=IntegerField()), Value(0))


def _last_assigned_at():
    assignments = RequestEvent.objects.filter(assignee=OuterRef("pk")).order_by("-created_at", "-id")
    return Subquery(assignments.values("created_at")[:1])


def team_members_available(team, *, on=None):
    """The team's members who are active buyers and not out of office on `on`, by user id, with their load.

    Each carries `load` (in PRIORITY_WEIGHTS units) and `last_assigned_at` (None if never).
    """
    on = on or timezone.localdate()
    return list(
        get_user_model()
        .objects.filter(buyers_filter(), team_memberships__team=team)
        .exclude(profile__away_until__gte=on)
        .distinct()
        .annotate(load=_weighted_load(), last_assigned_at=_last_assigned_at())
        .order_by("pk")
    )


NEVER = datetime.min.replace(tzinfo=UTC)  # never assigned: has waited longest of all


def _least_loaded(members):
    return min(members, key=lambda member: (member.load, member.last_assigned_at or NEVER, member.pk))


def _round_robin(members, last_assigned_id):
    if last_assigned_id is None:
        return members[0]
    after = [member for member in members if member.pk > last_assigned_id]
    return after[0] if after else members[0]


def buyer_pick(team, strategy, *, on=None):
    """The buyer the strategy picks in the team, or None for the team queue or when nobody is available."""
    if strategy == RoutingStrategy.TEAM_QUEUE:
        return None
    members = team_members_available(team, on=on)
    if not members:
        return None
    if strategy == RoutingStrategy.ROUND_ROBIN:
        return _round_robin(members, team.last_assigned_id)
    return _least_loaded(members)


def _name(user):
    return user.get_full_name() or user.username


@dataclass(frozen=True)
class RoutingDecision:
    rule: RoutingRule
    team: BuyerTeam
    buyer: object | None  # a user

    @property
    def strategy(self):
        return RoutingStrategy(self.rule.strategy)

    @property
    def nobody_available(self):
        """The strategy wanted a buyer, but every member is away or not an active buyer."""
        return self.buyer is None and self.strategy != RoutingStrategy.TEAM_QUEUE

    def summary(self, *, current_assignee=None):
        """The timeline's words; `current_assignee` is the buyer the request has before (re-routing)."""
        head = f"Routed by rule ‘{self.rule.name}’ to {self.team.name}"
        strategy = self.strategy.label.lower()
        if self.buyer is not None:
            verb = "stays with" if self.buyer == current_assignee else "assigned to"
            return f"{head}; {verb} {_name(self.buyer)} ({strategy})."
        unavailable = f"nobody in the team is available ({strategy}), so " if self.nobody_available else ""
        if current_assignee is not None:
            return f"{head}; {unavailable}it stays with {_name(current_assignee)}."
        return f"{head}; {unavailable}it waits in the team queue."

    def data(self):
        """What the timeline event stores for reports and audits."""
        return {
            "rule": self.rule.pk,
            "team": self.team.pk,
            "strategy": self.rule.strategy,
            "buyer": self.buyer.pk if self.buyer is not None else None,
            "nobody_available": self.nobody_available,
        }


def routing_decide(procurement_request, *, lock=False):
    """The rule, team and buyer for the request, or None when there is no rule at all (never writes).

    `lock=True` (inside a transaction) locks the team's row first, so that concurrent routings to one
    team see each other's assignments: round robin rotates and least loaded counts every request.
    """
    rule = routing_rule_for(procurement_request)
    if rule is None:
        return None
    team = rule.team
    if lock and rule.strategy != RoutingStrategy.TEAM_QUEUE:
        team = BuyerTeam.objects.select_for_update().get(pk=team.pk)
    return RoutingDecision(rule=rule, team=team, buyer=buyer_pick(team, rule.strategy))


def routing_preview(*, title, category, department, estimated_value, currency):
    """What routing would do with a request like this now: the "Try it" box. Writes nothing."""
    from .services import value_in_base_currency

    sample = ProcurementRequest(
        title=title or "",
        category=category,
        department=department,
        currency=currency,
        estimated_value=estimated_value,
        estimated_value_base=value_in_base_currency(amount=estimated_value, currency=currency),
    )
    return routing_decide(sample)


@transaction.atomic
def routing_defaults_ensure(*, apps=None) -> dict:
    """A default team and the default rule (team queue) if there is no default rule (idempotent).

    Called by the data migration `requests_app/0007_routing` and the demo seed; tests whose database
    is flushed (transactional tests) call it to get the same set-up back. An existing default rule,
    however an administrator changed it, is kept. Returns what was created, by name.
    """
    from slas.demo import OFFICE_CALENDAR, sla_defaults_ensure

    apps = apps or global_apps
    team_model = apps.get_model("requests_app", "BuyerTeam")
    rule_model = apps.get_model("requests_app", "RoutingRule")
    calendar_model = apps.get_model("slas", "BusinessCalendar")
    created = {"teams": [], "rules": []}
    if rule_model.objects.filter(is_default=True).exists():
        return created
    sla_defaults_ensure(apps=apps)  # the office calendar is the default team's
    calendar = calendar_model.objects.filter(name=OFFICE_CALENDAR).first() or calendar_model.objects.first()
    team, made = team_model.objects.get_or_create(
        name=DEFAULT_TEAM,
        defaults={"calendar": calendar, "description": "Every buyer; takes what no other team's rule matches."},
    )
    if made:
        created["teams"].append(team.name)
    rule_model.objects.create(
        name=DEFAULT_RULE, team=team, strategy=RoutingStrategy.TEAM_QUEUE, is_default=True, position=0
    )
    created["rules"].append(DEFAULT_RULE)
    return created
