"""Who hears what: each event of a request tells exactly the people it concerns, once, never the actor."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from requests_app import permissions, services
from requests_app.models import RoutingStrategy, Watcher
from stakeholders.models import Channel, Notification, NotificationKind, NotificationPreference
from stakeholders.roles import Role
from tests.factories import file_request, person
from tests.requests_app.test_routing import rule_for, team_of

pytestmark = pytest.mark.django_db

Kind = NotificationKind


def told(procurement_request=None, kind=None, channel=Channel.IN_APP):
    """{kind: [usernames]} of the notices written (in the app by default), or one kind's usernames."""
    notices = Notification.objects.filter(channel=channel)
    if procurement_request is not None:
        notices = notices.filter(procurement_request=procurement_request)
    if kind is not None:
        return sorted(notices.filter(kind=kind).values_list("recipient__username", flat=True))
    result = {}
    for notice_kind, username in notices.order_by("kind", "recipient__username").values_list(
        "kind", "recipient__username"
    ):
        result.setdefault(notice_kind, []).append(username)
    return result


def news_after(action, procurement_request):
    """What `action()` told, about this request."""
    before = set(Notification.objects.values_list("pk", flat=True))
    action()
    notices = Notification.objects.filter(channel=Channel.IN_APP, procurement_request=procurement_request).exclude(
        pk__in=before
    )
    result = {}
    for kind, username in notices.order_by("kind", "recipient__username").values_list("kind", "recipient__username"):
        result.setdefault(kind, []).append(username)
    return result


@pytest.fixture
def lead(procurement_department):
    return person(Role.BUYER, procurement_department, username="lena", first_name="Lena", last_name="Lead")


@pytest.fixture
def queue_team(buyer, lead):
    """Goods go to a team-queue team that Lena leads and Bob is in."""
    team = team_of(buyer, lead=lead, name="Indirect")
    rule_for(team, strategy=RoutingStrategy.TEAM_QUEUE, category=_goods())
    return team


def _goods():
    from tests.factories import CategoryFactory

    return CategoryFactory(name="Goods", approval_threshold=Decimal("5000"))


@pytest.fixture
def claimed(requester, buyer):
    return services.procurement_request_claim(procurement_request=file_request(requester), actor=buyer)


@pytest.fixture
def started(claimed, buyer):
    return services.procurement_request_start(procurement_request=claimed, actor=buyer)


# --- submission --------------------------------------------------------------------------------------


def test_a_submission_sends_the_requester_a_receipt_with_the_promised_targets_and_the_team_lead_a_queue_notice(
    requester, head, colleague, buyer, lead, queue_team
):
    procurement_request = file_request(requester, category=_goods())

    assert told(procurement_request) == {Kind.RECEIVED: ["alice"], Kind.TEAM_QUEUE: ["lena"]}
    receipt = Notification.objects.get(kind=Kind.RECEIVED, channel=Channel.EMAIL)
    assert receipt.subject == f"[{procurement_request.reference}] Received: Laptops for new starters"
    body = receipt.payload["body"]
    assert f"We have received your request {procurement_request.reference}" in body
    assert "First response: within 4 h of business time, by " in body
    assert "Resolution: within " in body
    assert "It is in the queue of Indirect" in body
    assert body.endswith(f"Open: http://127.0.0.1:8000/requests/{procurement_request.reference}/")


def test_a_routed_submission_tells_the_buyer_and_names_them_in_the_receipt(requester, buyer):
    rule_for(team_of(buyer), strategy=RoutingStrategy.LEAST_LOADED, category=_goods())

    procurement_request = file_request(requester, category=_goods())

    assert told(procurement_request) == {Kind.RECEIVED: ["alice"], Kind.ASSIGNED_TO_YOU: ["bob"]}
    receipt = Notification.objects.get(kind=Kind.RECEIVED, channel=Channel.IN_APP)
    assert f"{buyer.get_full_name()} is working on it." in receipt.payload["summary"]


def test_a_request_needing_approval_says_who_decides_and_the_approver_is_asked(requester, head):
    procurement_request = file_request(requester, estimated_value=Decimal("6000"))

    assert told(procurement_request) == {Kind.RECEIVED: ["alice"], Kind.APPROVAL: ["hannah"]}
    receipt = Notification.objects.get(kind=Kind.RECEIVED, channel=Channel.IN_APP)
    assert f"{head.get_full_name()}, head of Sales decides" in receipt.payload["summary"]


def test_a_confidential_request_tells_the_head_and_nobody_who_cannot_see_it(requester, head, colleague):
    procurement_request = file_request(requester, is_confidential=True)

    assert told(procurement_request) == {Kind.RECEIVED: ["alice"], Kind.CONFIDENTIAL_FILED: ["hannah"]}


def test_a_head_filing_a_confidential_request_is_not_told_of_their_own_action(head):
    procurement_request = file_request(head, is_confidential=True)

    assert told(procurement_request) == {Kind.RECEIVED: ["hannah"]}


# --- approval ----------------------------------------------------------------------------------------


def test_approval_and_rejection_tell_the_requester_with_the_reason(requester, head, colleague):
    first = file_request(requester, estimated_value=Decimal("6000"))
    second = file_request(requester, estimated_value=Decimal("7000"))

    approved = news_after(
        lambda: services.procurement_request_approve(procurement_request=first, actor=head, note="Go ahead"), first
    )
    rejected = news_after(
        lambda: services.procurement_request_reject(procurement_request=second, actor=head, note="Over budget"),
        second,
    )

    assert approved == {Kind.APPROVED: ["alice"]}  # the default team has no lead to tell
    assert rejected == {Kind.REJECTED: ["alice"]}
    notice = Notification.objects.get(kind=Kind.REJECTED, channel=Channel.EMAIL)
    assert notice.subject == f"[{second.reference}] Rejected by {head.get_full_name()}"
    assert "Reason: Over budget" in notice.payload["body"]


# --- assignment --------------------------------------------------------------------------------------


def test_a_claim_tells_the_requester_who_works_on_it_and_not_the_buyer(requester, buyer):
    procurement_request = file_request(requester)

    news = news_after(
        lambda: services.procurement_request_claim(procurement_request=procurement_request, actor=buyer),
        procurement_request,
    )

    assert news == {Kind.ASSIGNED: ["alice"]}
    notice = Notification.objects.get(kind=Kind.ASSIGNED, channel=Channel.IN_APP)
    assert notice.payload["headline"] == f"{buyer.get_full_name()} is working on it"


def test_a_reassignment_tells_the_new_buyer_the_previous_buyer_and_the_requester(
    claimed, requester, buyer, other_buyer, manager
):
    news = news_after(
        lambda: services.procurement_request_assign(
            procurement_request=claimed, actor=manager, assignee=other_buyer, note="Bob is overloaded"
        ),
        claimed,
    )

    assert news == {Kind.ASSIGNED: ["alice"], Kind.ASSIGNED_TO_YOU: ["betty"], Kind.REASSIGNED: ["bob"]}
    notice = Notification.objects.get(kind=Kind.REASSIGNED, channel=Channel.IN_APP)
    assert "Reason: Bob is overloaded" in notice.payload["summary"]


# --- replies -----------------------------------------------------------------------------------------


def test_a_buyers_reply_tells_the_requester_and_a_requesters_reply_tells_the_buyer(claimed, requester, buyer):
    from_buyer = news_after(
        lambda: services.comment_add(procurement_request=claimed, author=buyer, body="Which colour?"), claimed
    )
    from_requester = news_after(
        lambda: services.comment_add(procurement_request=claimed, author=requester, body="Black, please."), claimed
    )
    internal = news_after(
        lambda: services.comment_add(procurement_request=claimed, author=buyer, body="Cheap", is_internal=True),
        claimed,
    )

    assert (from_buyer, from_requester, internal) == ({Kind.REPLY: ["alice"]}, {Kind.REPLY: ["bob"]}, {})
    notice = Notification.objects.filter(kind=Kind.REPLY, recipient=buyer, channel=Channel.EMAIL).get()
    assert "Black, please." in notice.payload["body"]


def test_a_reply_with_markup_is_plain_in_the_text_and_escaped_in_the_html(claimed, requester, buyer):
    services.comment_add(procurement_request=claimed, author=requester, body="<b>Tom & Jerry</b>")

    notice = Notification.objects.get(kind=Kind.REPLY, channel=Channel.EMAIL)
    assert "<b>Tom & Jerry</b>" in notice.payload["summary"]
    assert "&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;" in notice.payload["summary_html"]


# --- the work ----------------------------------------------------------------------------------------


def test_the_buyers_steps_tell_the_requester_what_they_need_to_know(started, requester, buyer):
    waiting = news_after(
        lambda: services.procurement_request_wait_for_requester(
            procurement_request=started, actor=buyer, note="Which cost centre?"
        ),
        started,
    )
    services.comment_add(procurement_request=started, author=requester, body="CC-42")
    ordered = news_after(
        lambda: services.procurement_request_mark_ordered(procurement_request=started, actor=buyer, po_number="PO-7"),
        started,
    )
    completed = news_after(
        lambda: services.procurement_request_complete(procurement_request=started, actor=buyer), started
    )

    assert (waiting, ordered, completed) == (
        {Kind.WAITING_FOR_YOU: ["alice"]},
        {Kind.ORDERED: ["alice"]},
        # Completion also asks the requester how it went (stakeholders/surveys.py).
        {Kind.COMPLETED: ["alice"], Kind.SURVEY: ["alice"]},
    )
    question = Notification.objects.get(kind=Kind.WAITING_FOR_YOU, channel=Channel.IN_APP)
    assert "Which cost centre?" in question.payload["summary"]
    order = Notification.objects.get(kind=Kind.ORDERED, channel=Channel.IN_APP)
    assert order.payload["headline"] == "Ordered: PO PO-7"


def test_a_reopen_by_the_requester_tells_the_buyer_and_a_cancel_by_the_buyer_tells_the_requester(
    started, requester, buyer, manager
):
    services.procurement_request_complete(procurement_request=started, actor=buyer)

    reopened = news_after(
        lambda: services.procurement_request_reopen(procurement_request=started, actor=requester, note="One missing"),
        started,
    )
    cancelled = news_after(
        lambda: services.procurement_request_cancel(procurement_request=started, actor=manager, note="Not needed"),
        started,
    )

    assert reopened == {Kind.REOPENED: ["bob"]}
    assert cancelled == {Kind.CANCELLED: ["alice", "bob"]}


def test_a_buyer_out_of_office_with_open_work_is_reported_to_their_team_lead(claimed, buyer, lead, manager):
    team_of(buyer, lead=lead, name="Indirect")
    back = timezone.localdate() + timedelta(days=5)

    services.buyer_availability_set(buyer=buyer, actor=manager, away_until=back)
    services.buyer_availability_set(buyer=buyer, actor=lead, away_until=back + timedelta(days=1))  # the lead acts

    (notice,) = Notification.objects.filter(kind=Kind.BUYER_AWAY, channel=Channel.IN_APP)
    assert notice.recipient == lead
    assert f"{buyer.get_full_name()} is out of office until" in notice.payload["headline"]
    assert "has 1 open request;" in notice.payload["summary"]


# --- watchers, visibility, preferences ---------------------------------------------------------------


def test_followers_hear_public_events_but_not_internal_ones(claimed, requester, colleague, buyer):
    Watcher.objects.create(procurement_request=claimed, user=colleague)

    news = news_after(
        lambda: services.comment_add(procurement_request=claimed, author=buyer, body="Ordered tomorrow"), claimed
    )
    note = news_after(
        lambda: services.comment_add(procurement_request=claimed, author=buyer, body="x", is_internal=True), claimed
    )

    assert (news, note) == ({Kind.REPLY: ["alice", "carol"]}, {})


def test_a_follower_who_cannot_see_the_request_hears_nothing(requester, colleague, buyer):
    # given a confidential request a colleague somehow follows (e.g. written before it was confidential)
    procurement_request = file_request(requester, is_confidential=True)
    Watcher.objects.create(procurement_request=procurement_request, user=colleague)
    services.procurement_request_claim(procurement_request=procurement_request, actor=buyer)

    news = news_after(
        lambda: services.comment_add(procurement_request=procurement_request, author=buyer, body="Hello"),
        procurement_request,
    )

    assert news == {Kind.REPLY: ["alice"]}


def test_the_viewers_filter_agrees_with_can_view(requester, colleague, other_requester, head, buyer, manager):
    people = [requester, colleague, other_requester, head, buyer, manager]
    get_user_model().objects.filter(pk=buyer.pk).update(is_active=False)
    buyer.refresh_from_db()
    for confidential in (False, True):
        procurement_request = file_request(requester, is_confidential=confidential)
        in_sql = set(
            get_user_model()
            .objects.filter(permissions.viewers_filter(procurement_request))
            .values_list("username", flat=True)
        )
        in_python = {user.username for user in people if permissions.can_view(user, procurement_request)}
        assert in_sql == in_python
    assert "carol" not in in_sql and "hannah" in in_sql


def test_an_email_is_written_only_for_active_people_with_an_address_who_want_that_kind(claimed, requester, buyer):
    NotificationPreference.objects.create(user=requester, kind=Kind.REPLY, by_email=False)
    get_user_model().objects.filter(pk=buyer.pk).update(email="")

    services.comment_add(procurement_request=claimed, author=buyer, body="Hi Alice")
    services.comment_add(procurement_request=claimed, author=requester, body="Hi Bob")

    assert told(claimed, Kind.REPLY) == ["alice", "bob"]
    assert told(claimed, Kind.REPLY, channel=Channel.EMAIL) == []


def test_request_emails_wait_for_the_coalescing_window(claimed, requester, buyer, settings):
    settings.NOTIFICATION_COALESCE_SECONDS = 120
    before = timezone.now()

    services.comment_add(procurement_request=claimed, author=buyer, body="Hi")

    email = Notification.objects.get(kind=Kind.REPLY, channel=Channel.EMAIL)
    assert email.status == "held"
    assert timedelta(seconds=119) < email.not_before - before < timedelta(seconds=125)


# --- cost ----------------------------------------------------------------------------------------------

# The comment, its event, the request's lock, update and search document, and the clock check (the reply's
# own share), plus the notices: recipients with profiles and follows (1), e-mail preferences (1), and the bulk
# insert in notifications_create's savepoint (3).
REPLY_QUERIES = 14


@pytest.mark.parametrize("followers", [1, 10])
def test_a_reply_costs_the_same_queries_for_1_or_10_followers(
    claimed, buyer, department, django_assert_num_queries, followers
):
    for _ in range(followers):
        Watcher.objects.create(procurement_request=claimed, user=person(Role.REQUESTER, department))
    services.comment_add(procurement_request=claimed, author=buyer, body="Warm-up")  # caches warm

    search_document = 1 if connection.vendor == "postgresql" else 0
    with django_assert_num_queries(REPLY_QUERIES + search_document):
        services.comment_add(procurement_request=claimed, author=buyer, body="Shipped")

    assert len(told(claimed, Kind.REPLY)) == 2 * (1 + followers)  # the requester and the followers, twice
