"""Followers: anyone who can see a request may follow it; the requester or its buyer add colleagues."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from requests_app import services
from requests_app.models import Watcher
from tests.factories import file_request

pytestmark = pytest.mark.django_db


def followers(procurement_request):
    return sorted(
        Watcher.objects.filter(procurement_request=procurement_request).values_list("user__username", flat=True)
    )


@pytest.fixture
def request_of_alice(requester):
    return file_request(requester)


# --- services ----------------------------------------------------------------------------------------


def test_anyone_who_can_see_a_request_follows_it_once_and_can_stop(request_of_alice, colleague, buyer):
    for person in (colleague, buyer, colleague):
        services.watcher_add(procurement_request=request_of_alice, actor=person, user=person)
    assert followers(request_of_alice) == ["bob", "carol"]

    assert services.watcher_remove(procurement_request=request_of_alice, actor=colleague, user=colleague) is True
    assert services.watcher_remove(procurement_request=request_of_alice, actor=colleague, user=colleague) is False
    assert followers(request_of_alice) == ["bob"]


def test_nobody_follows_a_request_they_cannot_see(requester, colleague, other_requester):
    confidential = file_request(requester, is_confidential=True)

    for outsider in (colleague, other_requester):
        with pytest.raises(PermissionDenied):
            services.watcher_add(procurement_request=confidential, actor=outsider, user=outsider)
    assert followers(confidential) == []


def test_the_requester_and_the_buyer_add_colleagues_who_can_see_it(requester, colleague, head, buyer, other_buyer):
    procurement_request = services.procurement_request_claim(procurement_request=file_request(requester), actor=buyer)

    services.watcher_add(procurement_request=procurement_request, actor=requester, user=colleague)
    services.watcher_add(procurement_request=procurement_request, actor=buyer, user=head)

    assert followers(procurement_request) == ["carol", "hannah"]
    added = Watcher.objects.get(procurement_request=procurement_request, user=head)
    assert added.added_by == buyer
    # a follower or another buyer may not add people, nor remove them
    with pytest.raises(PermissionDenied):
        services.watcher_add(procurement_request=procurement_request, actor=colleague, user=requester)
    with pytest.raises(PermissionDenied):
        services.watcher_remove(procurement_request=procurement_request, actor=other_buyer, user=head)
    assert followers(procurement_request) == ["carol", "hannah"]


def test_a_colleague_who_cannot_see_a_confidential_request_cannot_be_added(requester, colleague):
    confidential = file_request(requester, is_confidential=True)

    with pytest.raises(ValidationError, match="cannot see"):
        services.watcher_add(procurement_request=confidential, actor=requester, user=colleague)
    assert followers(confidential) == []


# --- views -------------------------------------------------------------------------------------------


def test_the_follow_button_swaps_the_card_with_htmx_and_redirects_without(client, request_of_alice, colleague):
    client.force_login(colleague)
    url = reverse("requests_app:follow", args=[request_of_alice.reference])

    response = client.post(url, {"follow": "1"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="watchers"' in page and "Unfollow" in page and "(you)" in page
    assert followers(request_of_alice) == ["carol"]

    response = client.post(url, {"follow": "0"})
    assert response.status_code == 302
    assert response["Location"] == reverse("requests_app:detail", args=[request_of_alice.reference])
    assert followers(request_of_alice) == []


def test_the_request_page_shows_followers_and_the_add_form_to_the_requester(client, request_of_alice, requester):
    Watcher.objects.create(procurement_request=request_of_alice, user=requester)
    client.force_login(requester)

    page = client.get(reverse("requests_app:detail", args=[request_of_alice.reference])).content.decode()

    assert "Followers (1)" in page
    assert 'name="user"' in page and "Add follower" in page


def test_adding_nobody_shows_the_error_beside_the_field(client, request_of_alice, requester):
    client.force_login(requester)
    url = reverse("requests_app:watcher_add", args=[request_of_alice.reference])

    for headers in ({"HTTP_HX_REQUEST": "true"}, {}):
        response = client.post(url, {"user": "not-a-number"}, **headers)
        assert response.status_code == 400
        assert 'id="error_1_id_watcher_user"' in response.content.decode()
    assert followers(request_of_alice) == []


def test_the_requester_adds_and_removes_a_colleague(client, request_of_alice, requester, colleague):
    client.force_login(requester)

    client.post(reverse("requests_app:watcher_add", args=[request_of_alice.reference]), {"user": colleague.pk})
    assert followers(request_of_alice) == ["carol"]
    client.post(reverse("requests_app:watcher_remove", args=[request_of_alice.reference, colleague.pk]))
    assert followers(request_of_alice) == []


@pytest.mark.parametrize(
    ("who", "status"),
    [("anonymous", 302), ("colleague", 200), ("other_requester", 404), ("buyer", 200), ("manager", 200)],
)
def test_following_is_for_people_who_can_see_the_request(client, request, request_of_alice, who, status):
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))

    response = client.post(
        reverse("requests_app:follow", args=[request_of_alice.reference]), {"follow": "1"}, HTTP_HX_REQUEST="true"
    )

    assert response.status_code == status
    assert len(followers(request_of_alice)) == (1 if status == 200 else 0)


def test_only_the_requester_or_the_buyer_may_add_followers(client, request_of_alice, colleague, other_buyer):
    for outsider in (colleague, other_buyer):
        client.force_login(outsider)
        response = client.post(
            reverse("requests_app:watcher_add", args=[request_of_alice.reference]), {"user": colleague.pk}
        )
        assert response.status_code == 403
    assert followers(request_of_alice) == []
