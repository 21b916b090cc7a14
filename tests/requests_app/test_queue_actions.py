"""Acting from the queue: claim, assign, status and priority changes on one row (htmx, or a plain form),
bulk changes with per-row results, and the two ways a change can lose a race: someone claimed the
request first, or changed it since the page was loaded (a stale form)."""

import json
import threading

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.db import connection
from django.urls import reverse

from requests_app import services
from requests_app.models import EventKind, ProcurementRequest, RequestEvent, Status
from slas.demo import sla_defaults_ensure
from tests.factories import CategoryFactory, euro, file_request

HTMX = {"HX-Request": "true"}


def queue_url(view):
    return reverse("requests_app:queue", kwargs={"view": view})


def action_url(action, procurement_request):
    return reverse(f"requests_app:{action}", args=[procurement_request.reference])


def from_queue(**data):
    """What a queue row's form posts: the version it was rendered with, and where it came from."""
    return {"respond_with": "row", "next": queue_url("unassigned"), **data}


def queue_message(response):
    return json.loads(response["HX-Trigger"])["queue-message"]


def flashed(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def snapshot(procurement_request):
    row = ProcurementRequest.objects.get(pk=procurement_request.pk)
    return row.status, row.assignee_id, row.priority, row.version, row.events.count()


def name(user):
    return user.get_full_name() or user.username


# --- One row, through htmx ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_claiming_from_the_queue_returns_the_updated_row(client, requester, buyer):
    # given an unassigned request on the buyer's queue page
    procurement_request = file_request(requester)
    client.force_login(buyer)
    # when the buyer clicks Claim (htmx)
    response = client.post(
        action_url("claim", procurement_request), from_queue(version=procurement_request.version), headers=HTMX
    )
    # then the row comes back re-rendered, swapped in place of the old one, with a message
    assert response.status_code == 200
    assert response["HX-Retarget"] == f"#row-{procurement_request.reference}"
    assert response["HX-Reswap"] == "outerHTML"
    page = response.content.decode()
    assert page.lstrip().startswith(f'<tr id="row-{procurement_request.reference}"')
    assert name(buyer) in page and "Assigned" in page and "claim-button" not in page
    assert queue_message(response) == {"level": "success", "text": f"{procurement_request.reference} is yours now."}
    assert snapshot(procurement_request)[:2] == (Status.ASSIGNED, buyer.pk)
    # and the sidebar's counts as they are now come with it
    counts = json.loads(response["HX-Trigger"])["queue-counts"]
    assert (counts["mine"], counts["unassigned"]) == ("1", "0")


@pytest.mark.django_db
def test_a_claim_someone_else_won_is_a_409_naming_them_and_changes_nothing(client, requester, buyer, other_buyer):
    # given bob's page shows the request unassigned, and betty claims it first
    procurement_request = file_request(requester)
    seen_version = procurement_request.version
    services.procurement_request_claim(procurement_request=procurement_request, actor=other_buyer)
    before = snapshot(procurement_request)
    client.force_login(buyer)
    # when bob clicks Claim on his (now stale) row
    response = client.post(action_url("claim", procurement_request), from_queue(version=seen_version), headers=HTMX)
    # then he is told who has it, his row shows her as the buyer, and nothing changed
    assert response.status_code == 409
    assert queue_message(response) == {
        "level": "danger",
        "text": f"{procurement_request.reference} was just claimed by {name(other_buyer)}.",
    }
    assert name(other_buyer) in response.content.decode()
    assert snapshot(procurement_request) == before


@pytest.mark.django_db
def test_a_plain_form_claim_someone_else_won_redirects_back_to_the_queue_with_the_message(
    client, requester, buyer, other_buyer
):
    # (no JavaScript: the row's form is posted as it is)
    procurement_request = file_request(requester)
    services.procurement_request_claim(procurement_request=procurement_request, actor=other_buyer)
    client.force_login(buyer)
    response = client.post(action_url("claim", procurement_request), from_queue(version=1))
    assert response.status_code == 302
    assert response.url == queue_url("unassigned")
    assert flashed(response) == [f"{procurement_request.reference} was just claimed by {name(other_buyer)}."]


@pytest.mark.django_db
def test_a_plain_form_action_returns_to_the_queue_it_came_from_but_never_elsewhere(client, requester, buyer):
    first, second = file_request(requester), file_request(requester)
    client.force_login(buyer)
    back = client.post(action_url("claim", first), from_queue(version=1))
    elsewhere = client.post(action_url("claim", second), from_queue(version=1, next="https://evil.example/"))
    assert back.url == queue_url("unassigned")
    assert flashed(back) == [f"{first.reference} is yours now."]
    assert elsewhere.url == reverse("requests_app:detail", args=[second.reference])


@pytest.mark.django_db
def test_the_actions_dialog_offers_what_the_buyer_may_do_with_the_current_version(client, requester, buyer):
    procurement_request = services.procurement_request_claim(procurement_request=file_request(requester), actor=buyer)
    client.force_login(buyer)
    response = client.get(reverse("requests_app:queue_actions", args=[procurement_request.reference]), headers=HTMX)
    page = response.content.decode()
    assert response.status_code == 200
    assert [action for action, _, _ in response.context["actions"]] == [
        "start",
        "wait_for_requester",
        "wait_for_supplier",
        "reprioritise",
    ]
    assert f'name="version" value="{procurement_request.version}"' in page
    assert 'name="respond_with" value="row"' in page
    assert 'hx-post="' in page


@pytest.mark.django_db
def test_a_status_change_from_the_dialog_returns_the_row(client, requester, buyer):
    procurement_request = services.procurement_request_claim(procurement_request=file_request(requester), actor=buyer)
    client.force_login(buyer)
    response = client.post(
        action_url("wait_for_supplier", procurement_request),
        from_queue(version=procurement_request.version),
        headers=HTMX,
    )
    assert response.status_code == 200
    assert "Waiting for supplier" in response.content.decode()
    assert snapshot(procurement_request)[0] == Status.WAITING_FOR_SUPPLIER


@pytest.mark.django_db
def test_a_manager_assigns_from_the_queue(client, requester, manager, other_buyer):
    procurement_request = file_request(requester)
    client.force_login(manager)
    response = client.post(
        action_url("assign", procurement_request),
        from_queue(version=procurement_request.version, assignee=other_buyer.pk),
        headers=HTMX,
    )
    assert response.status_code == 200
    assert name(other_buyer) in response.content.decode()
    assert snapshot(procurement_request)[:2] == (Status.ASSIGNED, other_buyer.pk)


@pytest.mark.django_db
def test_raising_the_priority_from_the_queue_needs_a_reason_and_logs_who_asked(client, requester, buyer):
    # given the buyer's request
    procurement_request = services.procurement_request_claim(procurement_request=file_request(requester), actor=buyer)
    client.force_login(buyer)
    url = action_url("reprioritise", procurement_request)
    # when the buyer raises the priority without a reason, the form comes back with the error, in place
    refused = client.post(url, from_queue(version=procurement_request.version, priority="urgent"), headers=HTMX)
    assert refused.status_code == 400
    assert "This field is required." in refused.content.decode()
    assert 'id="action-item-reprioritise"' in refused.content.decode()
    assert snapshot(procurement_request)[2] == "normal"
    # when the reason is given, the change is made and the timeline says who, from what, to what and why
    done = client.post(
        url,
        from_queue(version=procurement_request.version, priority="urgent", note="Line 3 is down, asked by Alice."),
        headers=HTMX,
    )
    assert done.status_code == 200
    event = RequestEvent.objects.get(procurement_request=procurement_request, kind=EventKind.REPRIORITISED)
    assert (event.actor, event.data) == (buyer, {"priority": ["normal", "urgent"]})
    assert event.note == "Priority Normal → Urgent: Line 3 is down, asked by Alice."


# --- Stale edits --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_version_counts_state_changes_but_not_comments(requester, buyer):
    procurement_request = file_request(requester)
    assert procurement_request.version == 1
    procurement_request = services.procurement_request_claim(procurement_request=procurement_request, actor=buyer)
    assert procurement_request.version == 2
    services.comment_add(procurement_request=procurement_request, author=buyer, body="On it.")
    assert ProcurementRequest.objects.get(pk=procurement_request.pk).version == 2
    procurement_request = services.procurement_request_reprioritise(
        procurement_request=procurement_request, actor=buyer, priority="high", note="Asked by the head."
    )
    assert ProcurementRequest.objects.get(pk=procurement_request.pk).version == procurement_request.version == 3


@pytest.mark.django_db
def test_the_request_page_forms_carry_the_version(client, requester, buyer):
    procurement_request = services.procurement_request_claim(procurement_request=file_request(requester), actor=buyer)
    client.force_login(buyer)
    page = client.get(reverse("requests_app:detail", args=[procurement_request.reference])).content.decode()
    assert page.count(f'name="version" value="{procurement_request.version}"') == 4  # one per action form


@pytest.mark.django_db
def test_an_action_on_a_request_changed_since_the_page_was_loaded_is_refused(client, requester, buyer, manager):
    # given bob opened his request's page, then the manager raised its priority
    procurement_request = services.procurement_request_claim(procurement_request=file_request(requester), actor=buyer)
    seen_version = procurement_request.version
    services.procurement_request_reprioritise(
        procurement_request=procurement_request, actor=manager, priority="urgent", note="Board asked."
    )
    before = snapshot(procurement_request)
    client.force_login(buyer)
    # when bob sends the "Waiting for supplier" form of the page he loaded
    response = client.post(action_url("wait_for_supplier", procurement_request), {"version": seen_version})
    # then it is refused with what the request is now, and nothing changed
    assert response.status_code == 302
    assert response.url == reverse("requests_app:detail", args=[procurement_request.reference])
    assert flashed(response) == [
        f"{procurement_request.reference} changed since you opened it (now: assigned, assigned to {name(buyer)}); "
        "reload."
    ]
    assert snapshot(procurement_request) == before


@pytest.mark.django_db
def test_a_stale_queue_row_is_refused_with_409_and_the_current_row(client, requester, buyer, manager, other_buyer):
    # given a request the manager reassigned to betty after bob's page was loaded
    procurement_request = services.procurement_request_claim(procurement_request=file_request(requester), actor=buyer)
    seen_version = procurement_request.version
    services.procurement_request_assign(
        procurement_request=procurement_request, actor=manager, assignee=other_buyer, note="Bob is on leave."
    )
    before = snapshot(procurement_request)
    client.force_login(manager)
    # when the manager, on an old page, starts work on it from the queue
    response = client.post(action_url("start", procurement_request), from_queue(version=seen_version), headers=HTMX)
    # then it is refused with 409, the message says what it is now, and the row shows it
    assert response.status_code == 409
    assert queue_message(response)["text"] == (
        f"{procurement_request.reference} changed since you opened it "
        f"(now: assigned, assigned to {name(other_buyer)}); reload."
    )
    assert name(other_buyer) in response.content.decode()
    assert snapshot(procurement_request) == before


@pytest.mark.django_db
def test_a_form_with_the_current_version_goes_through(client, requester, buyer):
    procurement_request = services.procurement_request_claim(procurement_request=file_request(requester), actor=buyer)
    client.force_login(buyer)
    response = client.post(action_url("start", procurement_request), {"version": procurement_request.version})
    assert response.status_code == 302
    assert snapshot(procurement_request)[0] == Status.IN_PROGRESS


# --- Bulk ---------------------------------------------------------------------------------------------------


def rows(*requests, versions=None):
    return [f"{pr.reference}:{pr.version if versions is None else versions}" for pr in requests]


@pytest.mark.django_db
def test_the_managers_bulk_assign_select_offers_the_buyers_the_filter_offers(client, requester, manager, other_buyer):
    file_request(requester)
    client.force_login(manager)
    response = client.get(reverse("requests_app:queue", kwargs={"view": "unassigned"}))
    filter_buyers = list(response.context["filters"].fields["assignee"].choices)[2:]  # after "Anyone", "Unassigned"
    bulk_buyers = list(response.context["bulk_form"].fields["assignee"].choices)[1:]  # after "Buyer…"
    assert bulk_buyers == filter_buyers
    assert (str(other_buyer.pk), other_buyer.get_full_name() or other_buyer.username) in bulk_buyers
    assert f'<option value="{other_buyer.pk}">' in response.content.decode().split('id="bulk-form"', 1)[1]


@pytest.mark.django_db
def test_a_bulk_assignment_reports_each_request_assigned_or_skipped(client, requester, manager, other_buyer):
    # given four requests, one cancelled and one changed since the page was loaded
    fine = [file_request(requester) for _ in range(2)]
    cancelled = services.procurement_request_cancel(
        procurement_request=file_request(requester), actor=requester, note="Not needed."
    )
    moved = file_request(requester)
    seen = f"{moved.reference}:{moved.version}"
    services.procurement_request_reprioritise(
        procurement_request=services.procurement_request_assign(
            procurement_request=moved, actor=manager, assignee=manager
        ),
        actor=manager,
        priority="high",
        note="Escalated.",
    )
    before = {pr.pk: snapshot(pr) for pr in (cancelled, moved)}
    client.force_login(manager)
    # when the manager assigns all four to betty
    response = client.post(
        reverse("requests_app:queue_bulk"),
        {
            "rows": [*rows(*fine), *rows(cancelled), seen],
            "action": "assign",
            "assignee": other_buyer.pk,
            "next": queue_url("unassigned"),
        },
    )
    # then two are hers, the others are untouched and the message says why, request by request
    assert response.status_code == 302 and response.url == queue_url("unassigned")
    assert [snapshot(pr)[:2] for pr in fine] == [(Status.ASSIGNED, other_buyer.pk)] * 2
    assert {pr.pk: snapshot(pr) for pr in (cancelled, moved)} == before
    assert flashed(response) == [
        f"2 assigned, 2 skipped: {cancelled.reference} is cancelled; "
        f"{moved.reference} changed since you opened it (now assigned, assigned to {name(manager)})"
    ]


@pytest.mark.django_db
def test_a_bulk_status_change_skips_requests_that_are_not_the_buyers(client, requester, buyer, other_buyer):
    mine = [services.procurement_request_claim(procurement_request=file_request(requester), actor=buyer)]
    hers = services.procurement_request_claim(procurement_request=file_request(requester), actor=other_buyer)
    client.force_login(buyer)
    response = client.post(reverse("requests_app:queue_bulk"), {"rows": rows(*mine, hers), "action": "start"})
    assert flashed(response) == [f"1 started, 1 skipped: {hers.reference} is not yours to change"]
    assert snapshot(mine[0])[0] == Status.IN_PROGRESS
    assert snapshot(hers)[0] == Status.ASSIGNED


@pytest.mark.django_db
def test_a_bulk_change_through_htmx_returns_every_selected_row_out_of_band(client, requester, buyer):
    claimed = [services.procurement_request_claim(procurement_request=file_request(requester), actor=buyer)]
    unclaimed = file_request(requester)
    client.force_login(buyer)
    response = client.post(
        reverse("requests_app:queue_bulk"),
        {"rows": rows(*claimed, unclaimed), "action": "wait_for_supplier"},
        headers=HTMX,
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert page.lstrip().startswith("<template>")
    for procurement_request in (*claimed, unclaimed):
        assert f'<tr id="row-{procurement_request.reference}"' in page
    assert page.count('hx-swap-oob="true"') == 2
    assert queue_message(response) == {
        "level": "danger",
        "text": f"1 put on hold for the supplier, 1 skipped: {unclaimed.reference} is not yours to change",
    }


@pytest.mark.django_db
def test_a_bulk_form_without_rows_or_reason_or_with_a_managers_action_is_refused(client, requester, buyer):
    procurement_request = file_request(requester)
    client.force_login(buyer)

    def refused(data):
        # followed to the queue page, which shows (and so uses up) the message
        response = client.post(reverse("requests_app:queue_bulk"), data, follow=True)
        return [str(message) for message in response.context["messages"]]

    assert refused({"action": "start"}) == ["Select at least one request."]
    assert refused({"rows": rows(procurement_request), "action": "cancel"}) == ["Please give a reason."]
    assigning = refused({"rows": rows(procurement_request), "action": "assign", "assignee": buyer.pk})
    assert assigning[0].startswith("Select a valid choice.")
    assert refused({"rows": ["nonsense"], "action": "start"}) == ["The selection is not valid; reload the page."]
    assert snapshot(procurement_request)[:2] == (Status.SUBMITTED, None)


@pytest.mark.django_db
def test_the_bulk_service_skips_references_the_actor_cannot_see_or_that_do_not_exist(requester, buyer):
    procurement_request = services.procurement_request_claim(procurement_request=file_request(requester), actor=buyer)
    outcome = services.procurement_request_bulk_act(
        actor=buyer, action="start", versions={procurement_request.reference: None, "PR-2099-999999": None}
    )
    assert [pr.reference for pr in outcome.done] == [procurement_request.reference]
    assert outcome.skipped == [("PR-2099-999999", "was not found")]
    with pytest.raises(ValueError):
        services.procurement_request_bulk_act(actor=buyer, action="mark_ordered", versions={})


# --- The race -----------------------------------------------------------------------------------------------

CLAIMERS = 6


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_buyers_claiming_one_request_at_once_leave_one_assignee_and_tell_the_others_who(
    requester, buyer, require_service
):
    # (skips on SQLite, which serialises all writers; fails instead when SERVICEDESK_REQUIRE_SERVICES is set)
    require_service("PostgreSQL", connection.vendor == "postgresql", "claims can only race on PostgreSQL")
    from stakeholders.roles import Role
    from tests.factories import person

    # given one unassigned request and six buyers looking at it, each on their own connection
    sla_defaults_ensure()  # an earlier transactional test flushed the SLA set-up
    CategoryFactory(), euro()
    procurement_request = file_request(requester)
    buyers = [buyer] + [person(Role.BUYER, buyer.membership.department) for _ in range(CLAIMERS - 1)]
    start = threading.Barrier(CLAIMERS)
    won, lost, errors = [], [], []

    def claim(user_id):
        try:
            user = get_user_model().objects.get(pk=user_id)
            start.wait(timeout=10)
            services.procurement_request_claim(
                procurement_request=ProcurementRequest.objects.get(pk=procurement_request.pk),
                actor=user,
                expected_version=1,
            )
            won.append(user)
        except services.ClaimConflict as conflict:
            lost.append(str(conflict))
        except Exception as error:  # reported by the assertions below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=[user.pk]) for user in buyers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # when they all claim at the same instant, then exactly one wins
    assert errors == []
    assert len(won) == 1
    winner = won[0]
    procurement_request.refresh_from_db()
    assert (procurement_request.assignee, procurement_request.status) == (winner, Status.ASSIGNED)
    assert procurement_request.events.filter(kind=EventKind.ASSIGNED).count() == 1
    # and every other one is told who has it
    assert lost == [f"{procurement_request.reference} was just claimed by {name(winner)}."] * (CLAIMERS - 1)
