"""Escalation, relation and survey notices are written from their kind's template, in each recipient's
language and time zone: a German reader gets German (subject and body), an English one English."""

from datetime import date
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from slas.services import sla_clocks_sweep
from stakeholders import relations, surveys
from stakeholders.models import Channel, Notification, NotificationKind
from stakeholders.services import notification_deliver, profile_update
from tests.factories import file_request
from tests.slas.test_clock_services import at, berlin, submit, take
from tests.stakeholders.test_relations import TUESDAY_10, held_meeting
from tests.stakeholders.test_surveys import completed

pytestmark = pytest.mark.django_db


def german(*people):
    for user in people:
        profile_update(user=user, actor=user, language="de")
        user.refresh_from_db()


@pytest.fixture(autouse=True)
def one_email_per_notice(settings):
    settings.NOTIFICATION_COALESCE_SECONDS = 0


def sent_email(notification):
    """Deliver one e-mail notice (once any quiet hours it waits for are over) and return the message."""
    mail.outbox.clear()
    now = max(notification.not_before or timezone.now(), timezone.now())
    assert notification_deliver(notification_id=notification.pk, now=now) == "sent"
    (message,) = mail.outbox
    return message


def email_to(user, kind, **filters):
    return Notification.objects.get(recipient=user, kind=kind, channel=Channel.EMAIL, **filters)


# --- Escalations ----------------------------------------------------------------------------------


def test_an_sla_warning_reaches_a_german_buyer_in_german_with_the_due_time_in_their_zone(requester, buyer):
    # given Bob reads German, in New York
    german(buyer)
    profile_update(user=buyer, actor=buyer, time_zone="America/New_York")
    procurement_request = take(submit(requester), buyer, berlin(10, 9, 30))

    # when half of the first response time is used
    with at(berlin(10, 11)):
        sla_clocks_sweep()

    # then his line and e-mail are German, the due time in his zone
    notice = email_to(buyer, NotificationKind.SLA_WARNING)
    reference = procurement_request.reference
    assert notice.payload["headline"] == "50 % der Erstreaktionszeit verbraucht — noch 2 h"
    message = sent_email(notice)
    assert message.subject == f"[{reference}] 50 % der Erstreaktionszeit verbraucht — noch 2 h"
    assert f"Anfrage: {reference} — {procurement_request.title}" in message.body
    assert "Priorität: normal · Status: In Bearbeitung" in message.body
    assert "Fällig: Mo 10 Mär 2025, 09:00 (America/New_York)" in message.body
    assert "Sie erhalten diese Nachricht als: zuständiger Einkäufer." in message.body
    assert "Anfrage öffnen:" in message.body
    # while the timeline line stays in the desk's language
    line = procurement_request.events.filter(kind="escalation").get().note
    assert line.startswith("50 % of the first response time used — 2 h left: told ")


def test_the_approval_notice_reaches_a_german_head_in_german_and_an_english_manager_in_english(
    requester, head, other_requester, manager
):
    # given Hannah (head of Sales) reads German; Maria approves for Finance, which has no head, in English
    german(head)

    # when a request above the threshold is filed in each department
    sales = file_request(requester, estimated_value=Decimal("6000"), title="Messestand")
    other = file_request(other_requester, estimated_value=Decimal("6000"), title="Booth")

    # then each head is asked in their own language, with the one-click links
    to_hannah = sent_email(email_to(head, NotificationKind.APPROVAL, procurement_request=sales))
    assert to_hannah.subject == f"[{sales.reference}] Ihre Genehmigung wird benötigt: Messestand"
    assert "Mit einem Klick unten genehmigen oder ablehnen" in to_hannah.body
    assert "Genehmigen: http://" in to_hannah.body and "Ablehnen: http://" in to_hannah.body
    assert "Status: Wartet auf Genehmigung" in to_hannah.body
    to_maria = sent_email(email_to(manager, NotificationKind.APPROVAL, procurement_request=other))
    assert to_maria.subject == f"[{other.reference}] Your approval is needed: Booth"
    assert "Approve: http://" in to_maria.body and "Reject: http://" in to_maria.body
    assert "Status: Pending approval" in to_maria.body


# --- Relations ------------------------------------------------------------------------------------


def test_meeting_outcomes_reach_a_german_member_in_german_and_an_english_one_in_english(
    department, manager, requester, colleague, buyer
):
    # given Alice reads German, Carol English, and a meeting with an action item
    german(requester)
    meeting = held_meeting(department, manager)
    relations.action_item_add(
        meeting=meeting, actor=manager, title="Share the laptop catalogue", owner=buyer, due_on=date(2026, 3, 20)
    )

    # when the outcomes are published
    relations.meeting_outcomes_publish(meeting=meeting, actor=manager, summary="Laptops from April.", now=TUESDAY_10)

    # then each is told in their language
    to_alice = sent_email(email_to(requester, NotificationKind.MEETING_OUTCOMES))
    to_carol = sent_email(email_to(colleague, NotificationKind.MEETING_OUTCOMES))
    assert to_alice.subject == "Sales: Ergebnisse von „Quarterly service review“ (08 Mär 2026)"
    assert "Maßnahmen:" in to_alice.body and "fällig am 20 Mär 2026" in to_alice.body
    assert "Laptops from April." in to_alice.body
    assert to_carol.subject == "Sales: outcomes of “Quarterly service review” (08 Mar 2026)"
    assert "Action items:" in to_carol.body and "due 20 Mar 2026" in to_carol.body


def test_an_overdue_action_item_reminds_a_german_owner_in_german(department, manager, requester):
    german(requester)
    meeting = held_meeting(department, manager, days_ago=20)
    relations.action_item_add(
        meeting=meeting, actor=manager, title="Katalog teilen", owner=requester, due_on=date(2026, 3, 2)
    )

    relations.relations_reminders_sweep(now=TUESDAY_10)

    notice = Notification.objects.get(recipient=requester, kind=NotificationKind.ACTION_ITEM, channel=Channel.IN_APP)
    assert notice.payload["headline"] == "Maßnahme überfällig: Katalog teilen"
    assert "Fällig: Mo 02 Mär 2026" in notice.payload["body"]
    assert "als erledigt oder vereinbaren Sie einen neuen Termin" in notice.payload["body"]


# --- Surveys --------------------------------------------------------------------------------------


def test_the_survey_reaches_a_german_requester_in_german_and_an_english_one_in_english(requester, colleague, buyer):
    german(requester)

    in_german = completed(requester, buyer, title="Headsets")
    in_english = completed(colleague, buyer, title="Chairs")

    to_alice = sent_email(email_to(requester, NotificationKind.SURVEY))
    to_carol = sent_email(email_to(colleague, NotificationKind.SURVEY))
    assert to_alice.subject == f"[{in_german.reference}] Wie zufrieden waren Sie? Headsets"
    assert f"{in_german.reference} ist abgeschlossen." in to_alice.body
    assert "1 – Sehr schlecht: http://" in to_alice.body and "5 – Ausgezeichnet: http://" in to_alice.body
    assert "Ihre Antwort 7 Tage lang ändern" in to_alice.body
    assert to_carol.subject == f"[{in_english.reference}] How did we do? Chairs"
    assert "1 – Very poor: http://" in to_carol.body and "change your answer for 7 days" in to_carol.body


def test_a_low_score_follow_up_reaches_a_german_manager_in_german(requester, buyer, manager):
    # given the follow-up goes to the procurement manager (the request has no team lead), who reads German
    german(manager)
    procurement_request = completed(requester, buyer)
    survey = procurement_request.satisfaction_survey

    surveys.survey_answer(survey=survey, actor=requester, rating=1, comment="Zu spät")

    notice = Notification.objects.get(kind=NotificationKind.SURVEY_FOLLOW_UP, channel=Channel.IN_APP)
    assert notice.recipient == manager
    name = requester.get_full_name()
    assert notice.payload["headline"] == f"Niedrige Bewertung (1/5): bei {name} nachfassen"
    assert "Bewertung: 1 – Sehr schlecht" in notice.payload["body"]
    assert "Kommentar: Zu spät" in notice.payload["body"]


# --- Digests --------------------------------------------------------------------------------------


def test_the_weekly_digest_reaches_a_german_requester_in_german(requester, colleague, buyer):
    from requests_app import services as request_services
    from stakeholders.digests import digests_send
    from stakeholders.models import ScheduledSendKind

    # given Alice reads German and has a request waiting for her answer; Carol keeps English
    german(requester)
    chairs = request_services.procurement_request_claim(
        procurement_request=file_request(requester, title="Stühle"), actor=buyer
    )
    request_services.procurement_request_wait_for_requester(procurement_request=chairs, actor=buyer, note="Farbe?")
    file_request(colleague, title="Chairs")

    # when the Monday digest runs
    digests_send(kind=ScheduledSendKind.WEEKLY_DIGEST, now=TUESDAY_10)

    to_alice = Notification.objects.get(recipient=requester, kind="weekly_digest", channel=Channel.IN_APP).payload
    to_carol = Notification.objects.get(recipient=colleague, kind="weekly_digest", channel=Channel.IN_APP).payload
    assert to_alice["headline"] == "Ihre Woche: 1 offene Anfrage, 1 wartet auf Sie"
    assert f"Wartet auf Sie:\n- {chairs.reference} Stühle\n  Frage: Farbe?" in to_alice["body"]
    assert f"- {chairs.reference} Stühle: Wartet auf die anfragende Person" in to_alice["body"]
    assert to_carol["headline"] == "Your week: 1 open request"
    assert "Your open requests:" in to_carol["body"]
