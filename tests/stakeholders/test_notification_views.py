"""The bell, the notification list, marking read (htmx and plain POST), and e-mail preferences."""

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from stakeholders.models import Channel, Notification, NotificationKind, NotificationPreference
from stakeholders.services import notifications_create
from tests.factories import file_request

pytestmark = pytest.mark.django_db

# Everyone but Bob, to whom the notices in these tests go: requesters of his department and another, another
# buyer, a manager, a head.
OTHERS = ["requester", "other_requester", "other_buyer", "manager", "head"]


def tell(user, procurement_request=None, *, subject="[PR-2026-000001] 75 % of the resolution time used — 1 h left"):
    """One in-app notice to `user` (about a request, linking to it)."""
    path = f"/requests/{procurement_request.reference}/" if procurement_request else ""
    (notification,) = notifications_create(
        notifications=[
            Notification(
                recipient=user,
                kind=NotificationKind.SLA_WARNING,
                channel=Channel.IN_APP,
                procurement_request=procurement_request,
                payload={"subject": subject, "path": path},
            )
        ]
    )
    return notification


def bell_count(client):
    page = client.get(reverse("stakeholders:bell")).content.decode()
    match = re.search(r'id="bell-count">(\d+)', page)
    return int(match.group(1)) if match else 0


def test_the_bell_counts_my_unread_notices_only(client, buyer, manager):
    for _ in range(3):
        tell(buyer)
    tell(manager)
    client.force_login(buyer)

    assert bell_count(client) == 3
    page = client.get(reverse("requests_app:mine")).content.decode()
    assert 'hx-get="/notifications/bell/"' in page and 'href="/notifications/"' in page


def test_a_page_pays_no_query_for_the_bell_and_the_bell_one_for_its_count(client, buyer, django_assert_num_queries):
    client.force_login(buyer)
    tell(buyer)
    # the session, the user, and the unread count
    with django_assert_num_queries(3):
        assert bell_count(client) == 1


@pytest.mark.parametrize("n", [2, 30], ids=["2-notices", "30-notices"])
def test_the_list_costs_the_same_queries_however_many_notices(client, buyer, requester, n, django_assert_num_queries):
    procurement_request = file_request(requester)
    for _ in range(n):
        tell(buyer, procurement_request)
    client.force_login(buyer)
    # 4 base (session, user, user and group permissions for the navigation) + the department (with the
    # membership) and groups for the user menu + the count + the page of notices with their request
    with django_assert_num_queries(8):
        response = client.get(reverse("stakeholders:notifications"))
    assert response.status_code == 200
    assert response.content.decode().count('class="list-group-item') == min(n, 25)


def test_opening_a_notice_marks_it_read_and_goes_to_the_request(client, buyer, requester):
    procurement_request = file_request(requester)
    notification = tell(buyer, procurement_request)
    client.force_login(buyer)

    response = client.get(reverse("stakeholders:notification_open", args=[notification.pk]))

    assert response.status_code == 302
    assert response["Location"] == f"/requests/{procurement_request.reference}/"
    notification.refresh_from_db()
    assert notification.read_at is not None
    assert bell_count(client) == 0


def test_mark_one_read_with_htmx_swaps_its_row_and_refreshes_the_bell(client, buyer):
    notification = tell(buyer)
    client.force_login(buyer)

    response = client.post(reverse("stakeholders:notification_read", args=[notification.pk]), HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert response["HX-Trigger"] == "notificationsChanged"
    assert f'id="notification-{notification.pk}"' in response.content.decode()
    assert "Mark as read" not in response.content.decode()
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_mark_one_read_without_javascript_goes_back_to_the_list(client, buyer):
    notification = tell(buyer)
    client.force_login(buyer)

    response = client.post(
        reverse("stakeholders:notification_read", args=[notification.pk]), {"next": "/notifications/?unread=1"}
    )

    assert (response.status_code, response["Location"]) == (302, "/notifications/?unread=1")
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_mark_all_read_both_ways(client, buyer, manager):
    mine = [tell(buyer) for _ in range(3)]
    theirs = tell(manager)
    client.force_login(buyer)

    response = client.post(reverse("stakeholders:notifications_read_all"))
    assert (response.status_code, response["Location"]) == (302, "/notifications/")
    assert not Notification.objects.filter(pk__in=[n.pk for n in mine], read_at__isnull=True).exists()
    theirs.refresh_from_db()
    assert theirs.read_at is None

    tell(buyer)
    response = client.post(reverse("stakeholders:notifications_read_all"), HTTP_HX_REQUEST="true")
    assert (response.status_code, response["HX-Refresh"]) == (204, "true")
    assert bell_count(client) == 0


def test_the_unread_filter(client, buyer):
    read = tell(buyer, subject="[PR-1] Old news")
    tell(buyer, subject="[PR-2] Fresh")
    Notification.objects.filter(pk=read.pk).update(read_at=timezone.now())
    client.force_login(buyer)

    page = client.get(reverse("stakeholders:notifications") + "?unread=1").content.decode()

    assert "[PR-2] Fresh" in page and "[PR-1] Old news" not in page


@pytest.mark.parametrize("viewer", ["anonymous", *OTHERS])
def test_nobody_sees_or_marks_someone_elses_notice(client, request, viewer, buyer):
    # given a notice for Bob
    notification = tell(buyer, subject="[PR-9] For Bob only")
    if viewer != "anonymous":
        client.force_login(request.getfixturevalue(viewer))

    # when anyone else opens the list, follows the notice or marks it read
    listing = client.get(reverse("stakeholders:notifications"))
    opened = client.get(reverse("stakeholders:notification_open", args=[notification.pk]))
    marked = client.post(reverse("stakeholders:notification_read", args=[notification.pk]))

    # then the anonymous go to the login page, the others get a 404 as for a missing notice, and it stays unread
    if viewer == "anonymous":
        assert {listing.status_code, opened.status_code, marked.status_code} == {302}
        assert opened["Location"].startswith("/login/")
    else:
        assert "For Bob only" not in listing.content.decode()
        assert (opened.status_code, marked.status_code) == (404, 404)
    notification.refresh_from_db()
    assert notification.read_at is None


def test_preferences_choose_which_kinds_come_by_email(client, buyer):
    client.force_login(buyer)

    page = client.get(reverse("stakeholders:preferences")).content.decode()
    assert page.count('type="checkbox"') == len(NotificationKind.values)
    assert page.count("checked") == len(NotificationKind.values)  # everything by e-mail until told otherwise

    response = client.post(
        reverse("stakeholders:preferences"), {"email_kinds": [NotificationKind.SLA_BREACH, NotificationKind.APPROVAL]}
    )

    assert (response.status_code, response["Location"]) == (302, "/notifications/preferences/")
    chosen = {NotificationKind.SLA_BREACH, NotificationKind.APPROVAL}
    assert dict(NotificationPreference.objects.filter(user=buyer).values_list("kind", "by_email")) == {
        kind: kind in chosen for kind in NotificationKind.values
    }
    assert client.get(reverse("stakeholders:preferences")).content.decode().count("checked") == 2


def test_preferences_refuse_an_unknown_kind(client, buyer):
    client.force_login(buyer)

    response = client.post(reverse("stakeholders:preferences"), {"email_kinds": ["gossip"]})

    assert response.status_code == 400
    assert not NotificationPreference.objects.exists()
