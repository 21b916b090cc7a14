"""The /webhooks/ pages: procurement managers only; errors beside the field; every action through a service."""

import pytest
from django.urls import reverse

from webhooks.models import DeliveryStatus, Webhook, WebhookDelivery
from webhooks.services import webhook_create

pytestmark = pytest.mark.django_db

ROLES = ["anon", "requester", "head", "buyer", "manager"]
# As the routing page: anonymous users log in, everyone but a procurement manager gets 403.
EXPECTED = {"anon": "login", "requester": 403, "head": 403, "buyer": 403, "manager": 200}
VALID = {
    "name": "ERP",
    "target_url": "https://erp.example.com/hooks",
    "events": ["request.created", "request.breached"],
    "is_active": "on",
}


@pytest.fixture
def cast(requester, head, buyer, manager):
    return {"anon": None, "requester": requester, "head": head, "buyer": buyer, "manager": manager}


@pytest.fixture
def webhook(manager):
    return webhook_create(
        actor=manager,
        name="ERP",
        target_url="https://erp.example.com/hooks",
        events=["request.created"],
        is_active=True,
    )


def failed_delivery(webhook):
    return WebhookDelivery.objects.create(
        webhook=webhook,
        event_type="request.created",
        event_key="request-1-created",
        payload={"event": "request.created", "request": None},
        status=DeliveryStatus.FAILED,
        attempts=6,
        last_response_code=500,
        last_error="boom",
    )


def as_(client, user):
    if user is not None:
        client.force_login(user)
    return client


def page_of(response):
    return response.content.decode()


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", ["list", "create", "detail", "update", "deliveries"])
def test_only_procurement_managers_open_the_webhook_pages(client, cast, webhook, role, page):
    args = [] if page in ("list", "create") else [webhook.pk]
    response = as_(client, cast[role]).get(reverse(f"webhooks:{page}", args=args))
    if EXPECTED[role] == "login":
        assert response.status_code == 302 and response.url.startswith(reverse("login"))
    else:
        assert response.status_code == EXPECTED[role]


@pytest.mark.parametrize("role", ["anon", "requester", "head", "buyer"])
@pytest.mark.parametrize("action", ["create", "update", "active", "rotate", "test", "retry"])
def test_a_denied_webhook_change_changes_nothing(client, cast, webhook, role, action):
    delivery = failed_delivery(webhook)
    before = (list(Webhook.objects.values()), list(WebhookDelivery.objects.values()))
    url, data = {
        "create": (reverse("webhooks:create"), VALID),
        "update": (reverse("webhooks:update", args=[webhook.pk]), {**VALID, "name": "Hijacked"}),
        "active": (reverse("webhooks:active", args=[webhook.pk]), {"active": "0"}),
        "rotate": (reverse("webhooks:rotate", args=[webhook.pk]), {}),
        "test": (reverse("webhooks:test", args=[webhook.pk]), {}),
        "retry": (reverse("webhooks:retry", args=[webhook.pk, delivery.pk]), {}),
    }[action]

    response = as_(client, cast[role]).post(url, data)

    assert response.status_code in (302, 403)
    if role != "anon":
        assert response.status_code == 403
    assert (list(Webhook.objects.values()), list(WebhookDelivery.objects.values())) == before


def test_the_manage_menu_links_the_webhooks_page_for_managers_only(client, manager, buyer):
    link = f'href="{reverse("webhooks:list")}"'
    assert link in page_of(as_(client, manager).get(reverse("requests_app:routing")))
    client.logout()
    assert link not in page_of(as_(client, buyer).get(reverse("requests_app:availability")))


def test_a_manager_creates_a_webhook_and_sees_its_generated_secret(client, manager):
    response = as_(client, manager).post(reverse("webhooks:create"), VALID)

    webhook = Webhook.objects.get()
    detail_url = reverse("webhooks:detail", args=[webhook.pk])
    assert response.status_code == 302 and response.url == f"{detail_url}?secret=show#secret-card"
    assert (webhook.name, webhook.target_url, webhook.events) == (
        "ERP",
        "https://erp.example.com/hooks",
        ["request.created", "request.breached"],
    )
    assert webhook.created_by == manager and webhook.secret.startswith("whsec_") and len(webhook.secret) == 70
    detail = page_of(client.get(response.url))
    assert f">{webhook.secret}</code>" in detail and "<details open>" in detail
    assert "Give the receiver its secret" in detail


@pytest.mark.parametrize(
    "url, message",
    [
        ("ftp://erp.example.com/hooks", "Enter an http:// or https:// address"),
        ("javascript:alert(1)", "Enter an http:// or https:// address"),
        ("not a url", "Enter an http:// or https:// address"),
        ("", "This field is required."),
    ],
)
def test_a_bad_url_is_refused_beside_the_field_and_nothing_is_saved(client, manager, url, message):
    response = as_(client, manager).post(reverse("webhooks:create"), {**VALID, "target_url": url})

    assert response.status_code == 400
    page = page_of(response)
    # crispy renders the error right under the input, in the field's own block
    field = page[page.index('id="div_id_target_url"') :]
    field = field[: field.index('id="div_id_events"')]
    assert message in field and "is-invalid" in field
    assert not Webhook.objects.exists()


def test_no_event_chosen_is_refused_beside_the_events(client, manager):
    data = {key: value for key, value in VALID.items() if key != "events"}
    response = as_(client, manager).post(reverse("webhooks:create"), data)
    page = page_of(response)
    assert response.status_code == 400
    assert "Choose at least one event." in page[page.index('id="div_id_events"') :]
    assert not Webhook.objects.exists()


def test_a_manager_edits_disables_and_enables_a_webhook(client, manager, webhook):
    as_(client, manager).post(reverse("webhooks:update", args=[webhook.pk]), {**VALID, "name": "ERP (prod)"})
    webhook.refresh_from_db()
    assert (webhook.name, webhook.is_active) == ("ERP (prod)", True)

    client.post(reverse("webhooks:active", args=[webhook.pk]), {"active": "0"})
    webhook.refresh_from_db()
    assert webhook.is_active is False
    assert 'id="send-test"' not in page_of(client.get(reverse("webhooks:detail", args=[webhook.pk])))

    client.post(reverse("webhooks:active", args=[webhook.pk]), {"active": "1"})
    webhook.refresh_from_db()
    assert webhook.is_active is True


def test_rotating_replaces_the_secret(client, manager, webhook):
    old = webhook.secret
    response = as_(client, manager).post(reverse("webhooks:rotate", args=[webhook.pk]), follow=True)
    webhook.refresh_from_db()
    assert webhook.secret != old and webhook.secret_rotated_at is not None
    assert webhook.secret in page_of(response) and old not in page_of(response)


def test_send_a_test_event_writes_a_delivery_and_sends_nothing_in_the_request(
    client, manager, webhook, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as after_commit:
        response = as_(client, manager).post(reverse("webhooks:test", args=[webhook.pk]), follow=True)

    delivery = WebhookDelivery.objects.get()
    assert (delivery.event_type, delivery.status, delivery.attempts) == ("webhook.test", "pending", 0)
    assert len(after_commit) == 1  # the task is enqueued once the transaction commits, not run here
    page = page_of(response)
    assert f'id="delivery-{delivery.pk}" data-status="pending"' in page
    assert 'hx-trigger="every 2s"' in page  # the log refreshes itself while a delivery is outstanding


def test_the_log_shows_a_failed_delivery_with_its_code_and_retry_now_queues_it_again(client, manager, webhook):
    delivery = failed_delivery(webhook)

    page = page_of(as_(client, manager).get(reverse("webhooks:detail", args=[webhook.pk]) + "?status=failed"))
    row = page[page.index(f'id="delivery-{delivery.pk}"') :]
    assert "Failed" in row and "500" in row and "boom" in row and "Retry now" in row
    assert 'hx-trigger="every 2s"' not in page

    client.post(reverse("webhooks:retry", args=[webhook.pk, delivery.pk]))

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 0)


# The page's usual queries (session, user, permissions ×2, the department with the membership for the menu,
# groups) and one for the webhooks with their counts, however many there are.
LIST_QUERIES = 6 + 1


@pytest.mark.parametrize("count", [1, 3])
def test_the_list_shows_each_webhook_with_its_failed_count_in_a_fixed_number_of_queries(
    client, manager, webhook, count, django_assert_num_queries
):
    failed_delivery(webhook)
    for number in range(1, count):
        webhook_create(
            actor=manager, name=f"BI {number}", target_url="https://bi.example.com/in", events=["request.breached"]
        )
    as_(client, manager)
    with django_assert_num_queries(LIST_QUERIES):
        response = client.get(reverse("webhooks:list"))
    page = page_of(response)
    assert "ERP" in page and "1 failed" in page and "https://erp.example.com/hooks" in page
    assert page.count('<tr id="webhook-') == count


# --- the admin --------------------------------------------------------------------------------------


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "x")


def test_the_admin_creates_a_webhook_through_the_service_with_a_generated_secret(client, superuser):
    response = as_(client, superuser).post(
        reverse("admin:webhooks_webhook_add"),
        {
            "name": "ERP",
            "target_url": "https://erp.example.com/hooks",
            "events": ["request.created"],
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    webhook = Webhook.objects.get()
    assert webhook.secret.startswith("whsec_") and webhook.created_by == superuser
    assert webhook.secret in page_of(client.get(reverse("admin:webhooks_webhook_change", args=[webhook.pk])))


def test_the_admin_retries_failed_deliveries_and_lists_them(client, superuser, webhook):
    delivery = failed_delivery(webhook)
    as_(client, superuser)
    assert "request.created" in page_of(client.get(reverse("admin:webhooks_webhookdelivery_changelist")))

    client.post(
        reverse("admin:webhooks_webhookdelivery_changelist"),
        {"action": "retry_action", "_selected_action": [str(delivery.pk)]},
    )

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 0)
