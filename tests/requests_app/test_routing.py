"""Routing: which rule takes a request, which buyer the strategy picks, and the services around it."""

import threading
import uuid
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from requests_app import routing, services
from requests_app.models import (
    BuyerTeam,
    EventKind,
    Priority,
    ProcurementRequest,
    RequestEvent,
    RoutingRule,
    RoutingStrategy,
    Status,
)
from requests_app.routing import DEFAULT_RULE, routing_defaults_ensure
from slas.demo import OFFICE_CALENDAR, sla_defaults_ensure
from slas.models import BusinessCalendar, SlaClock
from stakeholders.models import Profile
from stakeholders.roles import Role
from tests.factories import CategoryFactory, DepartmentFactory, euro, file_request, person, usd

LEAST_LOADED = RoutingStrategy.LEAST_LOADED
ROUND_ROBIN = RoutingStrategy.ROUND_ROBIN
TEAM_QUEUE = RoutingStrategy.TEAM_QUEUE


# --- set-up helpers -------------------------------------------------------------------------------


def team_of(*members, name="IT & software", lead=None):
    calendar = BusinessCalendar.objects.get(name=OFFICE_CALENDAR)
    return services.buyer_team_upsert(name=name, calendar=calendar, lead=lead, members=members)


def rule_for(team, *, strategy=LEAST_LOADED, name=None, position=None, **conditions):
    """A routing rule written straight to the table (setup); its conditions default to 'Goods'."""
    conditions = conditions or {"category": CategoryFactory()}
    position = position if position is not None else RoutingRule.objects.count() * 10
    return RoutingRule.objects.create(
        name=name or f"Rule {uuid.uuid4().hex[:6]}", team=team, strategy=strategy, position=position, **conditions
    )


def away(user, days=3):
    Profile.objects.update_or_create(user=user, defaults={"away_until": timezone.localdate() + timedelta(days=days)})


def routed_event(procurement_request):
    return procurement_request.events.filter(kind=EventKind.ROUTED).latest("pk")


@pytest.fixture
def buyers(procurement_department):
    """Four buyers, created in name order (so their ids are in that order too)."""
    return [
        person(Role.BUYER, procurement_department, username=name, first_name=name.title(), last_name="Buyer")
        for name in ("anna", "ben", "cleo", "dina")
    ]


@pytest.fixture
def goods():
    return CategoryFactory(name="Goods", approval_threshold=Decimal("5000"))


# --- which rule -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_category_rule_takes_its_category_and_the_default_rule_takes_the_rest(requester, buyers, goods):
    # given a rule sending Goods to the IT team
    team = team_of(buyers[0])
    rule = rule_for(team, category=goods, name="Goods to IT")
    services_category = CategoryFactory(name="Services", approval_threshold=Decimal("10000"))

    # when a Goods request and a Services request are filed
    matching = file_request(requester, category=goods)
    other = file_request(requester, category=services_category)

    # then the Goods one goes to the team, the other to the default rule's team
    assert (matching.team, matching.routed_by) == (team, rule)
    default = RoutingRule.objects.get(is_default=True)
    assert (other.team, other.routed_by) == (default.team, default)


@pytest.mark.django_db
def test_a_department_rule_takes_only_that_departments_requests(requester, other_requester, buyers, goods):
    # given a rule for Finance's requests
    rule = rule_for(team_of(buyers[0]), department=other_requester.membership.department)

    # when Sales and Finance file requests
    sales = file_request(requester, category=goods)
    finance = file_request(other_requester, category=goods)

    # then only Finance's is routed by the rule
    assert finance.routed_by == rule
    assert sales.routed_by.is_default


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("value", "currency", "matches"),
    [
        ("999.99", "EUR", False),
        ("1000.00", "EUR", True),  # the minimum is included
        ("5000.00", "EUR", True),  # and the maximum
        ("5000.01", "EUR", False),
        ("1100.00", "USD", True),  # 1,012 EUR: values are compared in EUR
        ("1000.00", "USD", False),  # 920 EUR
    ],
)
def test_a_value_range_is_compared_in_eur_with_both_ends_included(requester, buyers, goods, value, currency, matches):
    # given a rule for 1,000–5,000 EUR
    rule = rule_for(team_of(buyers[0]), min_value=Decimal("1000"), max_value=Decimal("5000"))
    goods.approval_threshold = None
    goods.save()

    # when a request of that value is filed
    procurement_request = file_request(
        requester, category=goods, estimated_value=Decimal(value), currency=euro() if currency == "EUR" else usd()
    )

    # then the rule takes it only inside the range
    assert (procurement_request.routed_by == rule) is matches


@pytest.mark.django_db
def test_a_currency_rule_takes_only_requests_valued_in_that_currency(requester, buyers, goods):
    # given a rule for US-dollar requests of at least 1,000 EUR
    rule = rule_for(team_of(buyers[0]), currency=usd(), min_value=Decimal("1000"))

    # when requests in euros and in dollars are filed, all worth more than 1,000 EUR
    in_euros = file_request(requester, category=goods, estimated_value=Decimal("1500"), currency=euro())
    in_dollars = file_request(requester, category=goods, estimated_value=Decimal("1500"), currency=usd())
    small_in_dollars = file_request(requester, category=goods, estimated_value=Decimal("500"), currency=usd())

    # then only the dollar one above the minimum (in EUR) matches
    assert [pr.routed_by == rule for pr in (in_euros, in_dollars, small_in_dollars)] == [False, True, False]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("title", "matches"),
    [
        ("New LAPTOPS for sales", True),  # any case, and a keyword may start a longer word
        ("Docking station for a notebook", True),  # any of the keywords
        ("Toolkit for the workshop", False),  # "kit" does not start a word here
        ("Kit for the new starters", True),
        ("Office chairs", False),
    ],
)
def test_title_keywords_match_any_keyword_at_the_start_of_a_word_in_any_case(requester, buyers, goods, title, matches):
    # given a rule with keywords
    rule = rule_for(team_of(buyers[0]), title_keywords="laptop, notebook ,kit")

    # when a request with this title is filed
    procurement_request = file_request(requester, category=goods, title=title)

    # then the rule takes it when a keyword starts a word of the title
    assert (procurement_request.routed_by == rule) is matches


@pytest.mark.django_db
def test_the_first_matching_rule_in_position_order_wins(requester, buyers, goods):
    # given two rules that both match Goods, the later-created one placed first
    team_a, team_b = team_of(buyers[0], name="A"), team_of(buyers[1], name="B")
    rule_for(team_a, category=goods, position=20)
    first = rule_for(team_b, category=goods, title_keywords="laptop", position=10)

    # when a Goods request about laptops is filed
    procurement_request = file_request(requester, category=goods, title="Laptops")

    # then the rule tried first takes it
    assert (procurement_request.routed_by, procurement_request.team) == (first, team_b)


@pytest.mark.django_db
def test_inactive_rules_and_rules_of_inactive_teams_are_skipped(requester, buyers, goods):
    # given a matching rule that is inactive, one whose team is inactive, and a later active one
    switched_off = rule_for(team_of(buyers[0], name="Off"), category=goods, position=10)
    RoutingRule.objects.filter(pk=switched_off.pk).update(is_active=False)
    closed_team = team_of(buyers[1], name="Closed")
    BuyerTeam.objects.filter(pk=closed_team.pk).update(is_active=False)
    rule_for(closed_team, category=goods, position=20)
    live = rule_for(team_of(buyers[2], name="Live"), category=goods, position=30)

    # when a Goods request is filed
    procurement_request = file_request(requester, category=goods)

    # then the active rule of the active team takes it
    assert procurement_request.routed_by == live


@pytest.mark.django_db
def test_the_default_rule_leaves_the_request_in_its_team_queue_and_says_so(requester, goods):
    # given only the default rule (team queue), as a new installation has
    default = RoutingRule.objects.get(is_default=True)

    # when a request is filed
    procurement_request = file_request(requester, category=goods)

    # then it stays submitted, unassigned, in the default team's queue, and the timeline names the rule
    assert (procurement_request.status, procurement_request.assignee) == (Status.SUBMITTED, None)
    assert procurement_request.is_in_team_queue
    event = routed_event(procurement_request)
    assert (event.actor, event.from_status, event.to_status) == (None, "", "")
    assert event.note == f"Routed by rule ‘{DEFAULT_RULE}’ to {default.team.name}; it waits in the team queue."
    assert event.data == {
        "rule": default.pk,
        "team": default.team_id,
        "strategy": TEAM_QUEUE,
        "buyer": None,
        "nobody_available": False,
    }
    assert list(ProcurementRequest.objects.in_team_queue(default.team)) == [procurement_request]


# --- which buyer ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_routing_to_a_buyer_assigns_through_the_lifecycle_and_names_rule_team_buyer_and_strategy(
    requester, buyers, goods
):
    # given a least-loaded rule for Goods
    team = team_of(*buyers)
    rule = rule_for(team, category=goods, name="IT hardware")

    # when a Goods request is filed
    procurement_request = file_request(requester, category=goods)

    # then it is assigned to a buyer by one "routed" event that moves it Submitted → Assigned
    assert (procurement_request.status, procurement_request.assignee) == (Status.ASSIGNED, buyers[0])
    event = routed_event(procurement_request)
    assert (event.actor, event.assignee, event.from_status, event.to_status) == (
        None,
        buyers[0],
        Status.SUBMITTED,
        Status.ASSIGNED,
    )
    assert event.note == "Routed by rule ‘IT hardware’ to IT & software; assigned to Anna Buyer (least loaded)."
    assert event.data == {
        "rule": rule.pk,
        "team": team.pk,
        "strategy": LEAST_LOADED,
        "buyer": buyers[0].pk,
        "nobody_available": False,
    }
    # and the SLA clocks run as for any submitted request (assignment neither pauses nor stops them)
    clocks = SlaClock.objects.filter(procurement_request=procurement_request)
    assert clocks.count() == 2
    assert all(clock.stopped_at is None and clock.paused_since is None for clock in clocks)


@pytest.mark.django_db
def test_least_loaded_spreads_40_equal_submissions_evenly_over_4_buyers(requester, buyers, goods):
    # given a least-loaded team of four
    rule_for(team_of(*buyers), category=goods)

    # when 40 normal requests are filed
    assignees = [file_request(requester, category=goods).assignee for _ in range(40)]

    # then each buyer gets 10, and every round of four gives one to each
    assert Counter(assignees) == dict.fromkeys(buyers, 10)
    assert all(set(assignees[start : start + 4]) == set(buyers) for start in range(0, 40, 4))


@pytest.mark.django_db
def test_least_loaded_weighs_open_requests_by_priority(requester, buyers, goods):
    # given a least-loaded team of two
    anna, ben = buyers[:2]
    rule_for(team_of(anna, ben), category=goods)

    # when an urgent request and then five normal ones are filed
    urgent = file_request(requester, category=goods, priority=Priority.URGENT)
    normals = [file_request(requester, category=goods).assignee for _ in range(5)]

    # then the urgent one counts as four normal ones: Ben takes the next four, then it is a tie again
    # and Anna, who waited longer, takes the fifth
    assert urgent.assignee == anna
    assert normals == [ben, ben, ben, ben, anna]


@pytest.mark.django_db
def test_least_loaded_counts_only_open_requests_and_halves_low_ones(requester, buyers, goods):
    # given Anna with one completed and two low-priority open requests, Ben with one normal open request
    anna, ben = buyers[:2]
    for assignee, priority, status in [
        (anna, Priority.NORMAL, Status.COMPLETED),
        (anna, Priority.LOW, Status.IN_PROGRESS),
        (anna, Priority.LOW, Status.IN_PROGRESS),
        (ben, Priority.NORMAL, Status.IN_PROGRESS),
    ]:
        ProcurementRequest.objects.filter(pk=file_request(requester, priority=priority).pk).update(
            status=status, assignee=assignee
        )

    # when their loads are read
    loads = {member: member.load for member in routing.team_members_available(team_of(anna, ben))}

    # then two low requests weigh as much as one normal one, and the completed one not at all
    assert loads == {anna: routing.LOAD_UNIT, ben: routing.LOAD_UNIT}


@pytest.mark.django_db
def test_round_robin_rotates_through_the_members_in_a_stable_order(requester, buyers, goods):
    # given a round-robin team of three
    anna, ben, cleo = buyers[:3]
    team = team_of(cleo, anna, ben)  # the order members were added does not matter
    rule_for(team, category=goods, strategy=ROUND_ROBIN)

    # when seven requests are filed, whatever their priority
    assignees = [
        file_request(requester, category=goods, priority=priority).assignee
        for priority in [Priority.URGENT, Priority.LOW, Priority.NORMAL] * 2 + [Priority.HIGH]
    ]

    # then they go round in turn, and the team remembers who was last
    assert assignees == [anna, ben, cleo, anna, ben, cleo, anna]
    team.refresh_from_db()
    assert team.last_assigned == anna
    assert "(round robin)" in routed_event(ProcurementRequest.objects.first()).note


@pytest.mark.django_db
def test_round_robin_continues_after_the_last_buyer_even_when_they_left_the_team(requester, buyers, goods):
    # given a rotation whose last buyer, Ben, has since left the team
    anna, ben, cleo = buyers[:3]
    team = team_of(anna, ben, cleo)
    rule_for(team, category=goods, strategy=ROUND_ROBIN)
    BuyerTeam.objects.filter(pk=team.pk).update(last_assigned=ben)
    team_of(anna, cleo)

    # when the next requests are filed
    assignees = [file_request(requester, category=goods).assignee for _ in range(3)]

    # then the rotation goes on after Ben's place
    assert assignees == [cleo, anna, cleo]


@pytest.mark.django_db
@pytest.mark.parametrize("strategy", [LEAST_LOADED, ROUND_ROBIN])
def test_absent_buyers_receive_nothing_new(requester, buyers, goods, strategy):
    # given a team of four, one out of office until the day after tomorrow and one back since yesterday
    anna, ben, cleo, dina = buyers
    rule_for(team_of(*buyers), category=goods, strategy=strategy)
    away(ben, days=2)
    Profile.objects.create(user=cleo, away_until=timezone.localdate() - timedelta(days=1))

    # when twelve requests are filed
    assignees = Counter(file_request(requester, category=goods).assignee for _ in range(12))

    # then the absent buyer gets none and the others share them
    assert assignees == {anna: 4, cleo: 4, dina: 4}


@pytest.mark.django_db
def test_a_buyer_away_until_today_is_still_away_today(requester, buyers, goods):
    # given Anna out of office up to and including today, Ben present
    anna, ben = buyers[:2]
    rule_for(team_of(anna, ben), category=goods)
    Profile.objects.create(user=anna, away_until=timezone.localdate())

    # when a request is filed, then Ben gets it
    assert file_request(requester, category=goods).assignee == ben


@pytest.mark.django_db
@pytest.mark.parametrize("strategy", [LEAST_LOADED, ROUND_ROBIN])
def test_when_nobody_in_the_team_is_available_the_request_waits_in_the_team_queue(requester, buyers, goods, strategy):
    # given a team whose members are away, or no longer active buyers
    anna, ben, cleo = buyers[:3]
    team = team_of(anna, ben, cleo)
    rule_for(team, category=goods, strategy=strategy, name="Goods")
    away(anna)
    get_user_model().objects.filter(pk=ben.pk).update(is_active=False)
    cleo.groups.clear()

    # when a request is filed
    procurement_request = file_request(requester, category=goods)

    # then it waits in the team queue, and the timeline says why
    assert (procurement_request.status, procurement_request.assignee, procurement_request.team) == (
        Status.SUBMITTED,
        None,
        team,
    )
    event = routed_event(procurement_request)
    label = RoutingStrategy(strategy).label.lower()
    assert event.note == (
        f"Routed by rule ‘Goods’ to IT & software; nobody in the team is available ({label}), "
        "so it waits in the team queue."
    )
    assert event.data["nobody_available"] is True


@pytest.mark.django_db
def test_a_request_needing_approval_is_routed_when_approved_not_when_submitted(requester, head, buyers, goods):
    # given a least-loaded rule for Goods
    rule = rule_for(team_of(*buyers), category=goods)

    # when a request above the approval threshold is filed
    procurement_request = file_request(requester, category=goods, estimated_value=Decimal("6000"))

    # then it waits for approval with no team
    assert (procurement_request.status, procurement_request.team) == (Status.PENDING_APPROVAL, None)
    assert not procurement_request.events.filter(kind=EventKind.ROUTED).exists()

    # when the head approves it
    approved = services.procurement_request_approve(procurement_request=procurement_request, actor=head)

    # then, in the same step, routing assigns it, after the approval and the clocks' start
    assert (approved.status, approved.assignee, approved.routed_by) == (Status.ASSIGNED, buyers[0], rule)
    kinds = list(procurement_request.events.order_by("pk").values_list("kind", "to_status"))
    assert kinds[-3:] == [
        (EventKind.APPROVED, Status.APPROVED),
        (EventKind.SLA, ""),
        (EventKind.ROUTED, Status.ASSIGNED),
    ]


@pytest.mark.django_db
def test_a_failing_routing_rolls_back_the_whole_submission(requester, buyers, goods, monkeypatch):
    # given routing that fails
    rule_for(team_of(*buyers), category=goods)

    def broken(*args, **kwargs):
        raise RuntimeError("routing is down")

    monkeypatch.setattr(routing, "buyer_pick", broken)

    # when a request is filed, then nothing of it is kept
    with pytest.raises(RuntimeError):
        file_request(requester, category=goods)
    assert not ProcurementRequest.objects.exists()
    assert not RequestEvent.objects.exists()


# --- re-route and reassignment --------------------------------------------------------------------


@pytest.fixture
def routed(requester, buyers, goods):
    """A Goods request routed least-loaded to Anna in the IT team (led by Dina)."""
    anna, ben, cleo, dina = buyers
    team = team_of(anna, ben, dina, lead=dina)
    rule_for(team, category=goods, name="IT hardware")
    procurement_request = file_request(requester, category=goods)
    assert procurement_request.assignee == anna
    return procurement_request


def _state(procurement_request):
    row = ProcurementRequest.objects.get(pk=procurement_request.pk)
    return (row.status, row.assignee_id, row.team_id, row.routed_by_id, row.events.count())


@pytest.mark.django_db
def test_a_manager_reroutes_after_the_rules_changed_and_the_new_rule_reassigns(routed, manager, buyers, goods):
    # given a new rule placed first that sends Goods round-robin to another team
    cleo = buyers[2]
    other = team_of(cleo, name="Direct materials")
    new_rule = rule_for(other, category=goods, strategy=ROUND_ROBIN, position=0, name="Materials")

    # when the manager re-routes the request, with a reason
    rerouted = services.procurement_request_reroute(procurement_request=routed, actor=manager, note="Wrong team")

    # then it belongs to the other team and its buyer, still assigned, and the timeline names both
    assert (rerouted.status, rerouted.team, rerouted.assignee, rerouted.routed_by) == (
        Status.ASSIGNED,
        other,
        cleo,
        new_rule,
    )
    event = routed_event(routed)
    assert (event.actor, event.assignee) == (manager, cleo)
    assert event.note == (
        "Routed by rule ‘Materials’ to Direct materials; assigned to Cleo Buyer (round robin). Reason: Wrong team"
    )


@pytest.mark.django_db
def test_rerouting_to_a_team_queue_changes_the_team_but_keeps_the_buyer(routed, manager, buyers, goods):
    # given a first rule sending Goods to a team queue
    queue_team = team_of(buyers[2], name="Capital projects")
    rule_for(queue_team, category=goods, strategy=TEAM_QUEUE, position=0)

    # when the manager re-routes it
    rerouted = services.procurement_request_reroute(procurement_request=routed, actor=manager, note="Capital")

    # then the team changes, and nobody is picked, so Anna keeps it
    assert (rerouted.team, rerouted.assignee, rerouted.status) == (queue_team, buyers[0], Status.ASSIGNED)
    assert "it stays with Anna Buyer" in routed_event(routed).note


@pytest.mark.django_db
def test_rerouting_work_in_hand_keeps_its_status(routed, manager, buyers):
    # given the request in progress with Anna, who then goes away
    services.procurement_request_start(procurement_request=routed, actor=buyers[0])
    away(buyers[0])

    # when the team lead re-routes it
    rerouted = services.procurement_request_reroute(procurement_request=routed, actor=buyers[3], note="Anna is away")

    # then the least-loaded available member takes it, and it stays in progress
    assert (rerouted.status, rerouted.assignee) == (Status.IN_PROGRESS, buyers[1])
    event = routed_event(routed)
    assert (event.actor, event.assignee, event.from_status, event.to_status) == (buyers[3], buyers[1], "", "")


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["buyer_in_team", "other_team_lead", "requester"])
def test_only_managers_and_the_team_lead_may_reroute(routed, buyers, requester, who):
    # given someone who is neither a manager nor this team's lead
    actor = {"buyer_in_team": buyers[1], "other_team_lead": buyers[2], "requester": requester}[who]
    team_of(buyers[2], name="Elsewhere", lead=buyers[2])
    before = _state(routed)

    # when they try to re-route, then they are refused and nothing changes
    with pytest.raises(PermissionDenied):
        services.procurement_request_reroute(procurement_request=routed, actor=actor, note="Mine now")
    assert _state(routed) == before


@pytest.mark.django_db
def test_rerouting_needs_a_reason(routed, manager):
    before = _state(routed)
    with pytest.raises(ValidationError) as error:
        services.procurement_request_reroute(procurement_request=routed, actor=manager, note="  ")
    assert "note" in error.value.message_dict
    assert _state(routed) == before


@pytest.mark.django_db
def test_the_team_lead_reassigns_within_the_team_with_a_reason(routed, buyers):
    # when Dina, the team's lead, gives Anna's request to Ben, saying why
    services.procurement_request_assign(
        procurement_request=routed, actor=buyers[3], assignee=buyers[1], note="Ben knows the supplier"
    )

    # then Ben has it, and the timeline says who moved it and why
    routed.refresh_from_db()
    assert routed.assignee == buyers[1]
    event = routed.events.latest("pk")
    assert (event.kind, event.actor, event.assignee, event.note) == (
        EventKind.ASSIGNED,
        buyers[3],
        buyers[1],
        "Ben knows the supplier",
    )


@pytest.mark.django_db
def test_a_reassignment_without_a_reason_is_refused(routed, buyers, manager):
    before = _state(routed)
    with pytest.raises(ValidationError) as error:
        services.procurement_request_assign(procurement_request=routed, actor=manager, assignee=buyers[1], note="")
    assert "note" in error.value.message_dict
    assert _state(routed) == before


@pytest.mark.django_db
def test_the_team_lead_cannot_assign_outside_the_team_but_a_manager_can(routed, buyers, manager):
    # given Cleo, a buyer outside the team
    cleo = buyers[2]
    before = _state(routed)

    # when the team lead assigns the request to her, then it is refused beside the buyer field
    with pytest.raises(ValidationError) as error:
        services.procurement_request_assign(procurement_request=routed, actor=buyers[3], assignee=cleo, note="Help")
    assert "only a procurement manager" in error.value.message_dict["assignee"][0]
    assert _state(routed) == before

    # when the manager does, then it is done
    services.procurement_request_assign(procurement_request=routed, actor=manager, assignee=cleo, note="Help")
    routed.refresh_from_db()
    assert routed.assignee == cleo


@pytest.mark.django_db
def test_a_lead_of_another_team_or_a_plain_buyer_may_not_assign(routed, buyers):
    team_of(buyers[2], name="Elsewhere", lead=buyers[2])
    before = _state(routed)
    for actor in (buyers[1], buyers[2]):
        with pytest.raises(PermissionDenied):
            services.procurement_request_assign(procurement_request=routed, actor=actor, assignee=buyers[1], note="x")
    assert _state(routed) == before


# --- availability ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_buyer_sets_and_clears_their_own_out_of_office_date(buyers):
    anna = buyers[0]
    until = timezone.localdate() + timedelta(days=5)
    services.buyer_availability_set(buyer=anna, actor=anna, away_until=until)
    assert Profile.objects.get(user=anna).is_away()
    services.buyer_availability_set(buyer=anna, actor=anna, away_until=None)
    assert not Profile.objects.get(user=anna).is_away()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("actor_name", "allowed"),
    [("lead", True), ("manager", True), ("teammate", False), ("other_lead", False), ("requester", False)],
)
def test_only_the_team_lead_or_a_manager_sets_another_buyers_date(buyers, manager, requester, actor_name, allowed):
    # given Anna in Dina's team, and Cleo leading another team
    anna, ben, cleo, dina = buyers
    team_of(anna, ben, dina, lead=dina)
    team_of(cleo, name="Elsewhere", lead=cleo)
    actor = {"lead": dina, "manager": manager, "teammate": ben, "other_lead": cleo, "requester": requester}[actor_name]
    until = timezone.localdate() + timedelta(days=1)

    # when they set Anna's date
    if allowed:
        services.buyer_availability_set(buyer=anna, actor=actor, away_until=until)
        assert Profile.objects.get(user=anna).away_until == until
    else:
        with pytest.raises(PermissionDenied):
            services.buyer_availability_set(buyer=anna, actor=actor, away_until=until)
        assert not Profile.objects.filter(user=anna).exists()


@pytest.mark.django_db
def test_a_date_in_the_past_or_a_non_buyer_is_refused(buyers, manager, requester):
    with pytest.raises(ValidationError) as error:
        services.buyer_availability_set(
            buyer=buyers[0], actor=manager, away_until=timezone.localdate() - timedelta(days=1)
        )
    assert "away_until" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        services.buyer_availability_set(buyer=requester, actor=manager, away_until=timezone.localdate())
    assert "buyer" in error.value.message_dict
    assert not Profile.objects.exists()


@pytest.mark.django_db
def test_open_requests_of_absent_buyers_are_found_and_flagged(routed, buyers, requester):
    # given Anna's routed request and a completed one of hers; then Anna goes away
    done = file_request(requester, title="Done")
    ProcurementRequest.objects.filter(pk=done.pk).update(status=Status.COMPLETED, assignee=buyers[0])
    until = timezone.localdate() + timedelta(days=2)
    away(buyers[0], days=2)

    # then the open one is among those assigned to absent buyers, and the annotation flags it
    assert list(ProcurementRequest.objects.assigned_to_absent()) == [routed]
    flagged = ProcurementRequest.objects.with_assignee_away().get(pk=routed.pk)
    assert (flagged.assignee_is_away, flagged.assignee_away_until) == (True, until)
    in_three_days = timezone.localdate() + timedelta(days=3)
    assert not ProcurementRequest.objects.with_assignee_away(on=in_three_days).get(pk=routed.pk).assignee_is_away
    assert not ProcurementRequest.objects.assigned_to_absent(on=in_three_days).exists()


# --- rules: constraints, services, defaults -------------------------------------------------------


@pytest.mark.django_db
def test_there_is_only_one_default_rule():
    team = RoutingRule.objects.get(is_default=True).team
    with pytest.raises(IntegrityError), transaction.atomic():
        RoutingRule.objects.create(name="Second default", team=team, is_default=True)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [{"category_id": None, "title_keywords": "laptop"}, {"min_value": Decimal("1")}, {"is_active": False}],
)
def test_the_default_rule_stays_active_and_unconditional_in_the_database_too(change):
    with pytest.raises(IntegrityError), transaction.atomic():
        RoutingRule.objects.filter(is_default=True).update(**change)


@pytest.mark.django_db
def test_a_rule_needs_a_condition_and_a_sane_value_range(buyers):
    team = team_of(buyers[0])
    with pytest.raises(ValidationError) as error:
        RoutingRule(name="Everything", team=team).full_clean()
    assert "at least one condition" in str(error.value)
    with pytest.raises(ValidationError) as error:
        RoutingRule(name="Backwards", team=team, min_value=Decimal("10"), max_value=Decimal("5")).full_clean()
    assert "max_value" in error.value.message_dict


@pytest.mark.django_db
def test_managers_create_move_update_and_delete_rules_but_not_the_default(manager, buyers, goods):
    # given a team
    team = team_of(buyers[0])

    # when the manager creates two rules, then they come after the others, before the default
    first = services.routing_rule_create(actor=manager, name="First", team=team, category=goods, strategy=ROUND_ROBIN)
    second = services.routing_rule_create(actor=manager, name="Second", team=team, title_keywords=" a,,b ")
    assert list(RoutingRule.objects.values_list("name", flat=True)) == ["First", "Second", DEFAULT_RULE]
    assert second.title_keywords == "a, b"

    # when the second moves up, then it is tried first
    services.routing_rule_move(rule=second, actor=manager, direction="up")
    assert list(RoutingRule.objects.values_list("name", flat=True)) == ["Second", "First", DEFAULT_RULE]

    # when a rule is updated, then its new values are kept
    services.routing_rule_update(rule=first, actor=manager, strategy=TEAM_QUEUE, is_active=False)
    first.refresh_from_db()
    assert (first.strategy, first.is_active) == (TEAM_QUEUE, False)

    # when rules are deleted, then the default refuses
    services.routing_rule_delete(rule=first, actor=manager)
    default = RoutingRule.objects.get(is_default=True)
    with pytest.raises(ValidationError):
        services.routing_rule_delete(rule=default, actor=manager)
    with pytest.raises(ValidationError):
        services.routing_rule_move(rule=default, actor=manager, direction="up")
    with pytest.raises(ValidationError) as error:
        services.routing_rule_update(rule=default, actor=manager, category=goods)
    assert "category" in error.value.message_dict
    assert list(RoutingRule.objects.values_list("name", flat=True)) == ["Second", DEFAULT_RULE]


@pytest.mark.django_db
def test_only_managers_change_rules(buyers, goods):
    team = team_of(buyers[0], lead=buyers[0])
    with pytest.raises(PermissionDenied):
        services.routing_rule_create(actor=buyers[0], name="Mine", team=team, category=goods)
    default = RoutingRule.objects.get(is_default=True)
    with pytest.raises(PermissionDenied):
        services.routing_rule_update(rule=default, actor=buyers[0], strategy=LEAST_LOADED)
    assert RoutingRule.objects.count() == 1
    assert RoutingRule.objects.get().strategy == TEAM_QUEUE


@pytest.mark.django_db
def test_routing_defaults_ensure_is_idempotent_and_restores_a_flushed_setup():
    # given the migration's defaults, then ensuring them again creates nothing
    assert routing_defaults_ensure() == {"teams": [], "rules": []}
    # and once they are gone (as after a transactional test's flush), they come back
    RoutingRule.objects.all().delete()
    BuyerTeam.objects.all().delete()
    assert routing_defaults_ensure() == {"teams": [routing.DEFAULT_TEAM], "rules": [DEFAULT_RULE]}
    default = RoutingRule.objects.get()
    assert (default.is_default, default.strategy, default.team.calendar.name) == (True, TEAM_QUEUE, OFFICE_CALENDAR)


@pytest.mark.django_db
def test_without_any_rule_a_submission_still_goes_through_unrouted(requester, goods):
    # given no rules at all (an administrator deleted them by hand)
    RoutingRule.objects.all().delete()
    # when a request is filed, then it is submitted with no team
    procurement_request = file_request(requester, category=goods)
    assert (procurement_request.status, procurement_request.team) == (Status.SUBMITTED, None)


@pytest.mark.django_db
def test_the_dry_run_says_where_a_request_would_go_and_writes_nothing(buyers, goods, department):
    # given a round-robin rule
    rule = rule_for(team_of(*buyers[:2]), category=goods, strategy=ROUND_ROBIN)
    events, teams = RequestEvent.objects.count(), list(BuyerTeam.objects.values())

    # when the same request is tried twice
    decisions = [
        routing.routing_preview(
            title="Anything", category=goods, department=department, estimated_value=Decimal("10"), currency=euro()
        )
        for _ in range(2)
    ]

    # then both say the rule and the next buyer, and the rotation did not move
    assert [(d.rule, d.buyer) for d in decisions] == [(rule, buyers[0]), (rule, buyers[0])]
    assert (RequestEvent.objects.count(), list(BuyerTeam.objects.values())) == (events, teams)
    assert not ProcurementRequest.objects.exists()


# --- queries --------------------------------------------------------------------------------------

# Routing's share: the rules, the team's row lock, the members with their loads, then the assignment (update,
# event, clock check) that an unrouted submission does not make; the SLA summary copied onto the request (2);
# and the policy's escalation ladder, read once for the clocks' thresholds (1); the team and buyer copied onto
# the clocks just started, which the dashboards group by (1). The notices (7): the clocks for the receipt's
# promise, the recipients who may see it (with profiles and follows), the department (the buyer's notice
# names it), e-mail preferences, and one bulk insert in notifications_create's savepoint. Webhooks (1): whether
# an active webhook wants request.created (none here; the status changes made while filing are part of it).
ROUTED_SUBMISSION_QUERIES = 42


@pytest.mark.django_db
@pytest.mark.parametrize("members", [2, 4])
def test_a_routed_submission_takes_a_fixed_number_of_queries_whatever_the_team_size(
    requester, buyers, goods, django_assert_num_queries, members
):
    # given a least-loaded team and a first request (caches warm)
    rule_for(team_of(*buyers[:members]), category=goods)
    file_request(requester, category=goods)

    # when another request is filed, then the number of queries does not depend on the team's size
    # (on PostgreSQL the submission also writes the request's full-text search document)
    search_document = 1 if connection.vendor == "postgresql" else 0
    with django_assert_num_queries(ROUTED_SUBMISSION_QUERIES + search_document):
        file_request(requester, category=goods)


# --- concurrency (PostgreSQL) ---------------------------------------------------------------------


def _in_threads(count, work):
    start = threading.Barrier(count)
    errors = []

    def run(index):
        try:
            start.wait(timeout=10)
            work(index)
        except Exception as error:  # reported by the caller's assertions
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["submission", "approval"])
def test_concurrent_round_robin_routings_keep_the_rotation(path, require_service):
    # (skips on SQLite, which serialises all writers; fails instead when SERVICEDESK_REQUIRE_SERVICES is set)
    require_service("PostgreSQL", connection.vendor == "postgresql", "routings can only race on PostgreSQL")
    # given a round-robin team of three and the set-up a flushed database lost
    sla_defaults_ensure()
    routing_defaults_ensure()
    sales = DepartmentFactory(name="Sales", code="SALES")
    procurement = DepartmentFactory(name="Procurement", code="PROC", is_procurement=True)
    requester = person(Role.REQUESTER, sales, username="alice")
    head = person(Role.DEPARTMENT_HEAD, sales, username="hannah")
    members = [person(Role.BUYER, procurement, username=name) for name in ("anna", "ben", "cleo")]
    goods = CategoryFactory(name="Goods", approval_threshold=Decimal("5000"))
    euro()  # created once here, not raced for by the threads' submissions
    rule_for(team_of(*members), category=goods, strategy=ROUND_ROBIN)
    count = 9
    value = Decimal("6000") if path == "approval" else Decimal("100")
    pending = []
    if path == "approval":
        pending = [file_request(requester, category=goods, estimated_value=value) for _ in range(count)]

    # when nine requests are filed (or approved) at the same instant from nine connections
    def work(index):
        if path == "approval":
            services.procurement_request_approve(procurement_request=pending[index], actor=head)
        else:
            file_request(get_user_model().objects.get(pk=requester.pk), category=goods, estimated_value=value)

    errors = _in_threads(count, work)

    # then, in the order routing ran, each buyer follows the one before in the rotation: 3 each
    assert errors == []
    order = list(
        RequestEvent.objects.filter(kind=EventKind.ROUTED).order_by("pk").values_list("assignee__username", flat=True)
    )
    assert len(order) == count
    names = ["anna", "ben", "cleo"]
    assert all(names[(names.index(before) + 1) % 3] == after for before, after in zip(order, order[1:], strict=False))
    assert Counter(order) == {"anna": 3, "ben": 3, "cleo": 3}
