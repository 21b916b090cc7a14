"""Reminders: a request nobody claims, or one its approver leaves waiting, escalates on the same machinery.

"Procurement office hours" (Mon–Fri 08–12 and 13–17 Berlin). Default ladder: unclaimed after 60
business minutes → the buyers, after 240 → team lead and procurement managers; awaiting approval:
the approver is asked at once, reminded after 480 business minutes, and a manager joins after 960.
"""

from decimal import Decimal

import pytest

from requests_app import services
from requests_app.models import EventKind, ProcurementRequest
from slas.models import EscalationEvent, Reminder
from slas.services import sla_reminders_sweep
from stakeholders.models import Channel, NotificationKind
from tests.slas.test_clock_services import _pending, at, berlin, claim, submit
from tests.slas.test_escalation import escalation_lines, notices

pytestmark = pytest.mark.django_db


def reminder(procurement_request, subject):
    return Reminder.objects.get(procurement_request=procurement_request, subject=subject)


def test_an_unclaimed_request_reminds_the_buyers_then_the_managers(requester, buyer, other_buyer, manager):
    # given a request submitted Monday 09:00 that nobody claims
    procurement_request = submit(requester)
    assert reminder(procurement_request, "unclaimed").next_at == berlin(10, 10)

    # when the sweep runs at 10:00 (60 business minutes)
    with at(berlin(10, 10)):
        assert sla_reminders_sweep() == 1

    # then both buyers are told (managers are not buyers), once
    assert {row[:3] for row in notices(procurement_request, Channel.IN_APP)} == {
        ("betty", Channel.IN_APP, NotificationKind.UNCLAIMED),
        ("bob", Channel.IN_APP, NotificationKind.UNCLAIMED),
    }
    assert reminder(procurement_request, "unclaimed").next_at == berlin(10, 14)  # 240 minutes, lunch excluded
    with at(berlin(10, 10)):
        assert sla_reminders_sweep() == 0

    # when 240 business minutes have passed, the managers are told
    with at(berlin(10, 14, 0, 20)):
        assert sla_reminders_sweep() == 1
    assert ("maria", Channel.IN_APP, NotificationKind.UNCLAIMED, 240) in notices(procurement_request)
    assert escalation_lines(procurement_request) == [
        f"Nobody has claimed this request for 1 h of business time: told {_names(buyer, other_buyer)}.",
        f"Nobody has claimed this request for 4 h of business time: told {manager.get_full_name()} "
        "(procurement manager; e-mail and in the app).",
    ]
    assert reminder(procurement_request, "unclaimed").next_at is None


def _names(*buyers):
    people = sorted(buyers, key=lambda user: user.pk)
    return " and ".join(f"{user.get_full_name()} (buyer; e-mail and in the app)" for user in people)


def test_a_claimed_request_is_not_reminded_and_its_reminder_stops(requester, buyer, manager):
    # given a request claimed at 09:30, before its first reminder
    procurement_request = claim(submit(requester), buyer, berlin(10, 9, 30))

    # when the sweep comes to its reminder at 10:00
    with at(berlin(10, 10)):
        assert sla_reminders_sweep() == 0

    # then nobody is told, and the reminder is over
    assert not EscalationEvent.objects.filter(procurement_request=procurement_request).exists()
    assert reminder(procurement_request, "unclaimed").stopped_at == berlin(10, 10)


def test_the_approver_is_asked_at_once_and_reminded_while_the_request_waits(requester, head, manager, buyer):
    # given a request needing approval, submitted Monday 09:00
    procurement_request = _pending(requester)

    # then its head is asked at once, in the app and by e-mail, without an escalation line on the timeline
    assert notices(procurement_request) == [
        ("hannah", Channel.EMAIL, NotificationKind.APPROVAL, 0),
        ("hannah", Channel.IN_APP, NotificationKind.APPROVAL, 0),
    ]
    assert escalation_lines(procurement_request) == []
    assert reminder(procurement_request, "approval").next_at == berlin(11, 9)  # 8 business hours

    # when the head has not decided by Tuesday 09:00, then they are reminded, and the line says so
    with at(berlin(11, 9, 0, 30)):
        assert sla_reminders_sweep() == 1
    assert ("hannah", Channel.IN_APP, NotificationKind.APPROVAL, 480) in notices(procurement_request)
    assert escalation_lines(procurement_request)[0].startswith(
        "Still waiting for approval after 8 h of business time: told"
    )

    # when the head approves at 10:00, the approval reminders stop and the wait for a buyer begins
    with at(berlin(11, 10)):
        services.procurement_request_approve(procurement_request=procurement_request, actor=head)
    with at(berlin(12, 9, 0, 30)):  # past the 960-minute step, and past an hour unclaimed
        sla_reminders_sweep()
    assert reminder(procurement_request, "approval").stopped_at == berlin(12, 9, 0, 30)
    assert not EscalationEvent.objects.filter(procurement_request=procurement_request, threshold=960).exists()
    assert reminder(procurement_request, "unclaimed").started_at == berlin(11, 10)
    assert ("bob", Channel.IN_APP, NotificationKind.UNCLAIMED, 240) in notices(procurement_request)


def test_without_a_head_who_can_decide_the_managers_are_asked(requester, manager, department):
    # given a department without a head
    assert department.head is None

    # when a request needs approval, then the procurement managers are asked
    procurement_request = submit(requester, estimated_value=Decimal("6000"))
    assert {row[0] for row in notices(procurement_request)} == {"maria"}


def test_the_approval_notice_names_the_request(requester, head):
    procurement_request = _pending(requester)

    email = procurement_request.notifications.get(channel=Channel.EMAIL, recipient=head)
    assert email.subject == f"[{procurement_request.reference}] Your approval is needed: {procurement_request.title}"
    assert "Not assigned yet." in email.payload["body"]
    # with the one-click links (requests_app/approval_links.py) and the request's page
    body = email.payload["body"]
    assert "Approve: http://127.0.0.1:8000/requests/decide/" in body
    assert "Reject: http://127.0.0.1:8000/requests/decide/" in body
    assert f"Open: http://127.0.0.1:8000/requests/{procurement_request.reference}/" in body


def test_reminders_are_swept_in_batches_and_skip_requests_an_event_holds(requester, buyer):
    # given three unclaimed requests
    requests = [submit(requester) for _ in range(3)]

    # when the sweep runs in batches of two, then every one is reminded once
    with at(berlin(10, 10)):
        assert sla_reminders_sweep(batch_size=2) == 3
    assert EscalationEvent.objects.filter(procurement_request__in=requests).count() == 3
    assert (
        ProcurementRequest.objects.filter(pk__in=[r.pk for r in requests], events__kind=EventKind.ESCALATION).count()
        == 3
    )
