"""Escalation: thresholds of the ladder are clock thresholds; each fires once, with its notices and a timeline line.

Two calendars: the reference one of the worked examples (Mon–Fri 09:00–17:00 Berlin, example 5:
submitted Fri 2025-03-07 13:00 with a goal of 8 h → 50 % Fri 17:00, 75 % Mon 11:00, 90 % Mon 12:12,
due Mon 13:00), and the seeded "Procurement office hours" (Mon–Fri 08–12 and 13–17; a normal request
submitted Monday 2025-03-10 09:00 has first response 4 h: 50 % 11:00, 75 % 12:00, 90 % 13:36, due 14:00).
"""

import pytest
from django.conf import settings

from requests_app import services
from requests_app.models import EventKind, Priority
from slas.escalation import clock_thresholds, default_ladder, recipients_for
from slas.models import EscalationEvent, EscalationStep, Metric, StepKind
from slas.services import sla_clocks_sweep
from stakeholders.models import Channel, DeliveryStatus, Notification, NotificationKind, NotificationPreference
from tests.factories import CategoryFactory
from tests.slas.factories import SlaGoalFactory
from tests.slas.test_clock_services import (
    FIRST_RESPONSE,
    RESOLUTION,
    _change_priority,
    ask_requester,
    at,
    berlin,
    claim,
    current,
    reply,
    submit,
    take,
)

pytestmark = pytest.mark.django_db


def notices(procurement_request, channel=None):
    """(recipient, channel, kind, threshold) of every notification about the request, in order."""
    rows = Notification.objects.filter(escalation__isnull=False, procurement_request=procurement_request)
    if channel:
        rows = rows.filter(channel=channel)
    return sorted(rows.values_list("recipient__username", "channel", "kind", "escalation__threshold"))


def events(procurement_request):
    """(subject, cycle, threshold, collapsed into threshold) of every escalation event."""
    return sorted(
        EscalationEvent.objects.filter(procurement_request=procurement_request).values_list(
            "subject", "cycle", "threshold", "collapsed_into__threshold"
        )
    )


def escalation_lines(procurement_request):
    return list(
        procurement_request.events.filter(kind=EventKind.ESCALATION).order_by("pk").values_list("note", flat=True)
    )


# --- thresholds of the ladder ------------------------------------------------------------------------


@pytest.fixture
def example_category(db):
    """A category whose requests get the worked examples' goal: 8 h first response on Mon–Fri 09–17 Berlin,
    with a ladder that adds 30 minutes before due and 150 % (half the goal past the breach)."""
    category = CategoryFactory(name="Example", approval_threshold=None)
    goal = SlaGoalFactory(category=category, first_response_minutes=480, resolution_minutes=4800)
    ladder = [
        (StepKind.PERCENT, 50, {"notify_assignee": True}),
        (StepKind.PERCENT, 75, {"notify_assignee": True}),
        (StepKind.PERCENT, 90, {"notify_assignee": True, "notify_managers": True}),
        (StepKind.BEFORE_DUE, 30, {"notify_assignee": True}),
        (StepKind.PERCENT, 100, {"notify_assignee": True, "notify_managers": True, "notify_department_head": True}),
        (StepKind.PERCENT, 150, {"notify_managers": True}),
    ]
    for kind, value, recipients in ladder:
        EscalationStep.objects.create(policy=goal.policy, kind=kind, value=value, metric=FIRST_RESPONSE, **recipients)
    return category


def test_threshold_instants_follow_the_worked_example_with_the_ladders_extra_steps(
    requester, buyer, manager, head, example_category
):
    # given example 5: submitted Friday 13:00 with 8 business hours to answer, claimed at once
    procurement_request = claim(submit(requester, berlin(7, 13), category=example_category), buyer, berlin(7, 13))
    clock = current(procurement_request, FIRST_RESPONSE)
    assert (clock.next_threshold, clock.next_threshold_at) == (50, berlin(7, 17))

    # when the sweep runs at each stored instant, then the next one is the one the rules give
    expected = [
        (berlin(7, 17), 50, 75, berlin(10, 11)),
        (berlin(10, 11), 75, 90, berlin(10, 12, 12)),
        (berlin(10, 12, 12), 90, -30, berlin(10, 12, 30)),  # 30 minutes before due
        (berlin(10, 12, 30), 90, 100, berlin(10, 13)),
        (berlin(10, 13), 100, 150, berlin(10, 17)),  # 12 h of business time: Monday's closing instant
        (berlin(10, 17), 150, None, None),
    ]
    for moment, reached, next_key, next_at in expected:
        assert current(procurement_request, FIRST_RESPONSE).next_threshold_at == moment
        with at(moment):
            sla_clocks_sweep()
        clock = current(procurement_request, FIRST_RESPONSE)
        assert (clock.last_threshold, clock.next_threshold, clock.next_threshold_at) == (reached, next_key, next_at)

    # then each threshold fired exactly once, and each told its own people
    assert events(procurement_request) == [(FIRST_RESPONSE, 1, key, None) for key in (-30, 50, 75, 90, 100, 150)]
    in_app = notices(procurement_request, Channel.IN_APP)
    assert in_app == sorted(
        [
            ("bob", "in_app", NotificationKind.SLA_WARNING, 50),
            ("bob", "in_app", NotificationKind.SLA_WARNING, 75),
            ("bob", "in_app", NotificationKind.SLA_WARNING, 90),
            ("maria", "in_app", NotificationKind.SLA_WARNING, 90),
            ("bob", "in_app", NotificationKind.SLA_WARNING, -30),
            ("bob", "in_app", NotificationKind.SLA_BREACH, 100),
            ("maria", "in_app", NotificationKind.SLA_BREACH, 100),
            ("hannah", "in_app", NotificationKind.SLA_BREACH, 100),
            ("maria", "in_app", NotificationKind.SLA_BREACH, 150),
        ]
    )
    # and every in-app notice has its e-mail twin
    assert [row[0] for row in notices(procurement_request, Channel.EMAIL)] == [row[0] for row in in_app]


def test_the_default_ladder_adds_no_threshold_to_the_default_warnings(requester):
    # given a request under the seeded policy, which has no ladder of its own
    procurement_request = submit(requester)

    # then its thresholds are the goal's 50, 75, 90 and the breach, in business seconds of the 4 h goal
    clock = current(procurement_request, FIRST_RESPONSE)
    assert clock_thresholds(clock) == [(50, 7200), (75, 10800), (90, 12960), (100, 14400)]
    assert [step.when_text for step in default_ladder() if step.kind == StepKind.PERCENT] == [
        "50 %",
        "75 %",
        "90 %",
        "100 % (breach)",
    ]


def test_a_before_due_step_longer_than_the_goal_is_left_out(requester, example_category):
    # given a 2 h first response and a ladder step 3 h before due
    procurement_request = submit(requester, berlin(10, 9), category=example_category)
    clock = current(procurement_request, FIRST_RESPONSE)
    EscalationStep.objects.create(policy=clock.goal.policy, kind=StepKind.BEFORE_DUE, value=180)
    clock.goal_seconds = 7200
    clock.goal.policy._escalation_ladder = None

    # then that step has no instant; the others are in the order reached (30 min before due ties with 75 %)
    assert [key for key, _ in clock_thresholds(clock)] == [50, -30, 75, 90, 100, 150]


# --- exactly once, collapsed ------------------------------------------------------------------------------


def test_each_threshold_notifies_once_with_a_timeline_line_and_a_second_sweep_sends_nothing(requester, buyer):
    # given a normal request claimed by Bob at 09:30
    procurement_request = take(submit(requester), buyer, berlin(10, 9, 30))

    # when the sweep runs at 11:00 (50 % of the first response) and again at the same moment
    with at(berlin(10, 11)):
        first = sla_clocks_sweep()
        second = sla_clocks_sweep()

    # then one event, one notice per channel to the assignee, one internal timeline line
    assert len(first) == 1 and second == []
    assert events(procurement_request) == [(FIRST_RESPONSE, 1, 50, None)]
    assert notices(procurement_request) == [
        ("bob", Channel.EMAIL, NotificationKind.SLA_WARNING, 50),
        ("bob", Channel.IN_APP, NotificationKind.SLA_WARNING, 50),
    ]
    email = Notification.objects.get(
        escalation__isnull=False, procurement_request=procurement_request, channel=Channel.EMAIL
    )
    assert email.subject == f"[{procurement_request.reference}] 50 % of the first response time used — 2 h left"
    assert email.status == DeliveryStatus.PENDING
    assert "Due: Mon 10 Mar 2025, 14:00 (Europe/Berlin)" in email.payload["body"]
    assert email.payload["url"] == f"{settings.SITE_URL}/requests/{procurement_request.reference}/"
    (line,) = procurement_request.events.filter(kind=EventKind.ESCALATION)
    assert line.is_internal and line.actor is None
    assert line.note == (
        f"50 % of the first response time used — 2 h left: told {buyer.get_full_name()} "
        "(assignee; e-mail and in the app)."
    )


def test_a_goal_change_that_jumps_several_thresholds_sends_one_collapsed_notice(requester, buyer, manager, head):
    # given a normal request in progress with Bob, nothing swept since 09:00
    procurement_request = take(submit(requester), buyer, berlin(10, 9, 30))

    # when it becomes urgent at 10:30: 1.5 h used of a 1 h first response, 1.5 h of 8 h resolution
    changes = _change_priority(procurement_request, Priority.URGENT, berlin(10, 10, 30))
    services.sla_services.sla_changes_record(procurement_request=procurement_request, changes=changes)

    # then every first-response threshold is an event, the lower ones collapsed into the breach
    assert events(procurement_request) == [
        (FIRST_RESPONSE, 1, 50, 100),
        (FIRST_RESPONSE, 1, 75, 100),
        (FIRST_RESPONSE, 1, 90, 100),
        (FIRST_RESPONSE, 1, 100, None),
    ]
    # and each person gets one breach notice per channel, not four
    assert notices(procurement_request, Channel.IN_APP) == [
        ("bob", Channel.IN_APP, NotificationKind.SLA_BREACH, 100),
        ("hannah", Channel.IN_APP, NotificationKind.SLA_BREACH, 100),
        ("maria", Channel.IN_APP, NotificationKind.SLA_BREACH, 100),
    ]
    body = (
        Notification.objects.filter(escalation__isnull=False, channel=Channel.EMAIL, recipient=buyer)
        .get()
        .payload["body"]
    )
    assert "Passed at once (goal changed): 50 %, 75 %, 90 % and 100 %; this is the one notice for them." in body
    (line,) = escalation_lines(procurement_request)
    assert line.startswith("The first response time is used up — SLA breached (50 %, 75 %, 90 % and 100 % passed")

    # when the sweep runs afterwards, nothing fires again
    with at(berlin(10, 10, 31)):
        assert sla_clocks_sweep() == []
    assert len(events(procurement_request)) == 4


def test_a_goal_change_through_the_service_escalates_in_its_own_transaction(requester, buyer, manager):
    # given a normal request in progress with Bob since 09:30
    procurement_request = take(submit(requester), buyer, berlin(10, 9, 30))

    # when Bob makes it urgent at 10:30 (the first response is then 1.5 h into a 1 h goal)
    with at(berlin(10, 10, 30)):
        services.procurement_request_reprioritise(
            procurement_request=procurement_request, actor=buyer, note="CEO asks", priority=Priority.URGENT
        )

    # then the breach is told at once
    assert {row[2:] for row in notices(procurement_request)} == {(NotificationKind.SLA_BREACH, 100)}
    kinds = list(procurement_request.events.order_by("pk").values_list("kind", flat=True))
    assert kinds[-3:] == [EventKind.REPRIORITISED, EventKind.SLA, EventKind.ESCALATION]


# --- what never escalates ----------------------------------------------------------------------------------


def test_a_paused_clock_does_not_escalate(requester, buyer):
    # given a request answered at 09:45 and waiting for its requester since 10:00 (resolution paused)
    procurement_request = take(submit(requester), buyer, berlin(10, 9, 30))
    reply(procurement_request, buyer, berlin(10, 9, 45))
    ask_requester(procurement_request, buyer, berlin(10, 10))

    # when the sweep runs weeks later
    with at(berlin(31, 16)):
        assert sla_clocks_sweep() == []

    # then nothing escalated
    assert events(procurement_request) == [] and notices(procurement_request) == []


def test_a_met_clock_never_escalates(requester, buyer):
    # given a first response met at 09:45
    procurement_request = take(submit(requester), buyer, berlin(10, 9, 30))
    reply(procurement_request, buyer, berlin(10, 9, 45))

    # when the sweep runs after what would have been its due time (14:00)
    with at(berlin(10, 14, 30)):
        sla_clocks_sweep()

    # then only the resolution clock could have escalated, and it has not reached anything yet
    assert events(procurement_request) == []
    assert current(procurement_request, FIRST_RESPONSE).met is True


def test_a_threshold_reached_just_before_a_pause_is_still_told(requester, buyer):
    # given a request answered at 09:45 whose resolution reaches 50 % (20 of 40 h) on Wednesday 14:00, unswept
    procurement_request = take(submit(requester), buyer, berlin(10, 9, 30))
    reply(procurement_request, buyer, berlin(10, 9, 45))

    # when Bob asks the requester half a minute later, pausing the resolution
    ask_requester(procurement_request, buyer, berlin(12, 14, 0, 30))

    # then the 50 % reached before the pause is told, in the transaction of the pause
    assert events(procurement_request) == [(RESOLUTION, 1, 50, None)]
    assert current(procurement_request, RESOLUTION).paused_since == berlin(12, 14, 0, 30)


def test_a_first_response_answered_after_a_threshold_but_before_the_sweep_is_not_told_late(requester, buyer):
    # given a request at 50 % of its first response at 11:00, not swept since
    procurement_request = take(submit(requester), buyer, berlin(10, 9, 30))

    # when Bob answers at 11:00:30, then nobody is warned about a clock that is already met
    reply(procurement_request, buyer, berlin(10, 11, 0, 30))
    assert events(procurement_request) == []


# --- quiet hours ------------------------------------------------------------------------------------------


def test_an_email_reached_at_closing_time_waits_for_the_next_opening_while_the_bell_shows_it_at_once(
    requester, buyer, example_category, django_capture_on_commit_callbacks
):
    # given example 5: 50 % of the first response is reached at Friday 17:00, the closing instant
    procurement_request = claim(submit(requester, berlin(7, 13), category=example_category), buyer, berlin(7, 13))

    # when the sweep runs at 17:00:30, after closing
    with at(berlin(7, 17, 0, 30)), django_capture_on_commit_callbacks() as enqueued:
        sla_clocks_sweep()

    # then the in-app notice is there, the e-mail is held until Monday 09:00 and nothing was enqueued
    in_app = Notification.objects.get(
        escalation__isnull=False, procurement_request=procurement_request, channel=Channel.IN_APP
    )
    email = Notification.objects.get(
        escalation__isnull=False, procurement_request=procurement_request, channel=Channel.EMAIL
    )
    assert (in_app.status, in_app.sent_at) == (DeliveryStatus.SENT, berlin(7, 17, 0, 30))
    assert (email.status, email.not_before) == (DeliveryStatus.HELD, berlin(10, 9))
    assert enqueued == []
    assert "e-mail held until Mon 10 Mar 2025, 09:00" in escalation_lines(procurement_request)[0]

    # when the sweep's outbox step runs on Sunday and on Monday just after opening (the request's own
    # news from Friday — received, assigned — long sent)
    from stakeholders.services import notifications_requeue

    Notification.objects.filter(escalation__isnull=True).update(status=DeliveryStatus.SENT)

    with at(berlin(9, 12)), django_capture_on_commit_callbacks() as enqueued:
        assert notifications_requeue() == 0
    with at(berlin(10, 9, 0, 30)), django_capture_on_commit_callbacks() as enqueued:
        assert notifications_requeue() == 1
    # then the e-mail is enqueued once, at the opening
    assert len(enqueued) == 1


def test_a_breach_reaches_managers_at_once_even_out_of_hours(
    requester, buyer, manager, head, example_category, django_capture_on_commit_callbacks
):
    # given example 5, swept for the last time on Friday 17:00 … (50 % reached)
    procurement_request = claim(submit(requester, berlin(7, 13), category=example_category), buyer, berlin(7, 13))
    with at(berlin(7, 17)):
        sla_clocks_sweep()

    # when the sweep next runs on Monday night, past 150 % (Monday 17:00)
    with at(berlin(10, 22)), django_capture_on_commit_callbacks():
        sla_clocks_sweep()

    # then the collapsed breach notice by e-mail goes to the manager now, and waits for the opening for the others
    emails = Notification.objects.filter(
        escalation__isnull=False, procurement_request=procurement_request, channel=Channel.EMAIL
    )
    assert sorted(emails.filter(escalation__threshold=150).values_list("recipient__username", "status")) == [
        ("bob", DeliveryStatus.HELD),
        ("hannah", DeliveryStatus.HELD),
        ("maria", DeliveryStatus.PENDING),
    ]


# --- preferences --------------------------------------------------------------------------------------------


def test_a_kind_turned_off_by_email_still_appears_in_the_app(requester, buyer):
    # given Bob wants SLA warnings in the app only
    NotificationPreference.objects.create(user=buyer, kind=NotificationKind.SLA_WARNING, by_email=False)
    procurement_request = take(submit(requester), buyer, berlin(10, 9, 30))

    # when 50 % is reached
    with at(berlin(10, 11)):
        sla_clocks_sweep()

    # then only the in-app notice exists
    assert notices(procurement_request) == [("bob", Channel.IN_APP, NotificationKind.SLA_WARNING, 50)]


def test_a_person_without_an_email_address_is_told_in_the_app(requester, buyer):
    buyer.email = ""
    buyer.save(update_fields=["email"])
    procurement_request = take(submit(requester), buyer, berlin(10, 9, 30))

    with at(berlin(10, 11)):
        sla_clocks_sweep()

    assert notices(procurement_request) == [("bob", Channel.IN_APP, NotificationKind.SLA_WARNING, 50)]


# --- recipients and time zones: the extension points for teams and profiles ------------------------------


def test_recipients_resolve_team_lead_and_buyers_through_the_requests_team_when_there_is_one(
    requester, buyer, other_buyer, manager, head
):
    from requests_app.services import buyer_team_upsert

    procurement_request = submit(requester)
    step = EscalationStep(
        kind=StepKind.PERCENT, value=75, notify_assignee=True, notify_team_lead=True, notify_buyers=True
    )

    # in the installation's default team, which nobody is in: no lead, every buyer
    pairs = recipients_for(step, procurement_request)
    assert sorted((user.username, role) for user, role in pairs) == [("betty", "buyer"), ("bob", "buyer")]

    # in a team with a lead and members: its lead, and its members as the buyers
    procurement_request.team = buyer_team_upsert(
        name="Direct materials", calendar=procurement_request.team.calendar, lead=manager, members=[other_buyer]
    )
    pairs = recipients_for(step, procurement_request)
    assert sorted((user.username, role) for user, role in pairs) == [("betty", "buyer"), ("maria", "team lead")]


def test_the_due_time_in_an_email_is_in_the_recipients_time_zone(requester, buyer):
    from stakeholders.services import profile_update

    profile_update(user=buyer, actor=buyer, time_zone="America/New_York")
    procurement_request = take(submit(requester), buyer, berlin(10, 9, 30))

    with at(berlin(10, 11)):
        sla_clocks_sweep()

    email = Notification.objects.get(
        escalation__isnull=False, procurement_request=procurement_request, channel=Channel.EMAIL
    )
    assert "Due: Mon 10 Mar 2025, 09:00 (America/New_York)" in email.payload["body"]
    assert email.payload["time_zone"] == "America/New_York"


def test_an_inactive_person_is_not_told(requester, buyer):
    procurement_request = take(submit(requester), buyer, berlin(10, 9, 30))
    buyer.is_active = False
    buyer.save(update_fields=["is_active"])

    with at(berlin(10, 11)):
        sla_clocks_sweep()

    assert notices(procurement_request) == []
    assert escalation_lines(procurement_request) == ["50 % of the first response time used — 2 h left: nobody to tell."]


def test_steps_for_one_clock_leave_the_other_alone(requester, buyer, example_category):
    # given example 5's ladder, which concerns the first response only, and 5 % of a 80 h resolution
    procurement_request = claim(submit(requester, berlin(7, 13), category=example_category), buyer, berlin(7, 13))
    resolution = current(procurement_request, RESOLUTION)

    # then the resolution has the goal's warnings and the breach only
    assert [key for key, _ in clock_thresholds(resolution)] == [50, 75, 90, 100]
    assert resolution.metric == Metric.RESOLUTION
