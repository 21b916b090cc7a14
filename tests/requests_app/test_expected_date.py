"""The buyer sets when the requester can expect delivery; the requester is told, in the app and by e-mail."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from requests_app import services
from requests_app.models import EventKind, ProcurementRequest
from stakeholders.models import Channel, Notification, NotificationKind, NotificationPreference
from tests.factories import file_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def working(requester, buyer):
    """A request Bob has claimed and started."""
    procurement_request = services.procurement_request_claim(procurement_request=file_request(requester), actor=buyer)
    return services.procurement_request_start(procurement_request=procurement_request, actor=buyer)


def in_days(days):
    return timezone.localdate() + timedelta(days=days)


def test_the_requester_is_told_the_new_expected_date(working, requester, buyer):
    # when Bob expects delivery in ten days, then moves it to twelve
    services.procurement_request_set_expected_date(procurement_request=working, actor=buyer, expected_on=in_days(10))
    services.procurement_request_set_expected_date(
        procurement_request=working, actor=buyer, expected_on=in_days(12), note="The supplier is a week late."
    )

    # then the request has the date, the timeline both changes, and Alice two notices per channel
    assert ProcurementRequest.objects.get(pk=working.pk).expected_on == in_days(12)
    notes = list(working.events.filter(kind=EventKind.EXPECTED_DATE).values_list("note", flat=True))
    assert notes == [
        f"Expected by {in_days(10):%a %d %b %Y}.",
        f"Expected by {in_days(12):%a %d %b %Y} (was {in_days(10):%a %d %b %Y}): The supplier is a week late.",
    ]
    notices = Notification.objects.filter(recipient=requester, kind=NotificationKind.EXPECTED_DATE)
    assert sorted(notices.values_list("channel", flat=True)) == [Channel.EMAIL] * 2 + [Channel.IN_APP] * 2
    latest = notices.filter(channel=Channel.EMAIL).order_by("-pk").first()
    assert latest.subject == f"[{working.reference}] Expected by {in_days(12):%a %d %b %Y}"
    assert "Their note: The supplier is a week late." in latest.payload["body"]


def test_a_requester_who_wants_no_such_email_is_told_in_the_app(working, requester, buyer):
    NotificationPreference.objects.create(user=requester, kind=NotificationKind.EXPECTED_DATE, by_email=False)

    services.procurement_request_set_expected_date(procurement_request=working, actor=buyer, expected_on=in_days(3))

    told = Notification.objects.filter(recipient=requester, kind=NotificationKind.EXPECTED_DATE)
    assert list(told.values_list("channel", flat=True)) == [Channel.IN_APP]


@pytest.mark.parametrize(
    ("expected_on", "message"),
    [(date(2000, 1, 1), "cannot be in the past"), (None, "already the expected date")],
)
def test_a_past_or_unchanged_date_is_refused(working, buyer, expected_on, message):
    services.procurement_request_set_expected_date(procurement_request=working, actor=buyer, expected_on=in_days(5))

    with pytest.raises(ValidationError, match=message):
        services.procurement_request_set_expected_date(
            procurement_request=working, actor=buyer, expected_on=expected_on or in_days(5)
        )


def test_only_the_buyer_working_it_or_a_manager_may_set_it(working, requester, other_buyer):
    for someone in (requester, other_buyer):
        with pytest.raises(PermissionDenied):
            services.procurement_request_set_expected_date(
                procurement_request=working, actor=someone, expected_on=in_days(5)
            )


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("anonymous", "login"),
        ("requester", 403),
        ("colleague", 403),
        ("other_requester", 404),
        ("head", 403),
        ("other_buyer", 403),
        ("buyer", 302),
        ("manager", 302),
    ],
)
def test_the_form_answers_each_role_and_a_refused_post_changes_nothing(client, request, working, who, expected):
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))

    response = client.post(
        reverse("requests_app:expected_date", args=[working.reference]), {"expected_on": in_days(7).isoformat()}
    )

    if expected == "login":
        assert response.status_code == 302 and response.url.startswith(reverse("login"))
    else:
        assert response.status_code == expected
    changed = ProcurementRequest.objects.get(pk=working.pk).expected_on
    assert changed == (in_days(7) if expected == 302 else None)


def test_the_buyer_sees_the_form_and_a_past_date_comes_back_with_the_reason(client, working, buyer, requester):
    client.force_login(buyer)
    page = client.get(reverse("requests_app:detail", args=[working.reference])).content.decode()
    assert 'action="/requests/' + working.reference + '/expected-date/"' in page

    response = client.post(
        reverse("requests_app:expected_date", args=[working.reference]), {"expected_on": "2000-01-01"}
    )

    assert response.status_code == 400
    assert "The expected date cannot be in the past." in response.content.decode()
    client.force_login(requester)
    page = client.get(reverse("requests_app:detail", args=[working.reference])).content.decode()
    assert "/expected-date/" not in page
