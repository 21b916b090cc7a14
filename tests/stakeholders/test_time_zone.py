"""Every time is shown in the viewer's own time zone: chosen on My settings, remembered for the
session at login, and applied without a query per page."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from stakeholders.models import Profile
from stakeholders.services import profile_update
from tests.slas.test_clock_services import berlin, submit

pytestmark = pytest.mark.django_db


def _log_in(client, user):
    user.set_password("pw")
    user.save(update_fields=["password"])
    response = client.post(reverse("login"), {"username": user.username, "password": "pw"})
    assert response.status_code == 302
    return client


def test_a_person_chooses_a_time_zone_and_the_request_page_shows_due_times_in_it(client, requester):
    # given a request submitted Monday 09:00 Berlin, first response due 14:00 Berlin (13:00 in London)
    procurement_request = submit(requester)
    _log_in(client, requester)
    page = reverse("requests_app:detail", kwargs={"reference": procurement_request.reference})
    assert "14:00" in client.get(page).content.decode()

    # when the requester chooses London on My settings
    response = client.post(reverse("stakeholders:settings"), {"time_zone": "Europe/London"})

    # then it is saved, and the same due time now reads 13:00
    assert response.status_code == 302
    assert Profile.objects.get(user=requester).time_zone == "Europe/London"
    shown = client.get(page).content.decode()
    assert "13:00" in shown and berlin(10, 14).strftime("%H:%M") not in shown.split("First response", 1)[1][:600]


def test_the_zone_chosen_before_applies_from_the_next_login(client, requester):
    # given a requester who chose New York earlier
    profile_update(user=requester, actor=requester, time_zone="America/New_York")

    # when they log in
    _log_in(client, requester)

    # then the pages say times are in New York time
    response = client.get(reverse("stakeholders:settings"))
    assert "America/New_York" in response.content.decode()


def test_an_empty_choice_means_the_desks_time_zone(client, requester, settings):
    profile_update(user=requester, actor=requester, time_zone="Asia/Tokyo")
    _log_in(client, requester)

    client.post(reverse("stakeholders:settings"), {"time_zone": ""})

    assert Profile.objects.get(user=requester).time_zone == ""
    assert settings.TIME_ZONE in client.get(reverse("stakeholders:settings")).content.decode()


def test_an_unknown_zone_is_refused_beside_the_field_and_nothing_changes(client, requester):
    _log_in(client, requester)

    response = client.post(reverse("stakeholders:settings"), {"time_zone": "Mars/Olympus_Mons"})

    assert response.status_code == 400
    assert response.context["form"].errors["time_zone"]
    assert not Profile.objects.filter(user=requester, time_zone="Mars/Olympus_Mons").exists()


def test_my_settings_needs_a_login(client):
    response = client.get(reverse("stakeholders:settings"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_showing_times_in_the_viewers_zone_costs_no_query(client, requester):
    # given the same page seen with the desk's zone and with the person's own
    _log_in(client, requester)
    url = reverse("stakeholders:settings")
    with CaptureQueriesContext(connection) as desk:
        client.get(url)
    client.post(url, {"time_zone": "Europe/Lisbon"})
    with CaptureQueriesContext(connection) as own:
        response = client.get(url)

    # then the page is in Lisbon time, for the same number of queries
    assert "Europe/Lisbon" in response.content.decode()
    assert len(own.captured_queries) == len(desk.captured_queries) > 0
