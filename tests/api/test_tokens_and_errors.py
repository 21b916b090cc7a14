"""Tokens (created and revoked on My settings, stored hashed), authentication, rate limits, and the one
error format, for every kind of error."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from api.models import ApiToken, token_hash
from api.services import api_token_create, api_token_revoke
from api.throttling import TokenRateThrottle

ME = "/api/v1/me/"


def _errors(response):
    body = response.json()
    assert set(body) == {"errors"}, body
    for item in body["errors"]:
        assert set(item) == {"field", "code", "message"}, item
    return body["errors"]


@pytest.mark.django_db
def test_a_token_made_on_my_settings_is_shown_once_stored_hashed_and_acts_as_its_owner(client, requester):
    # given the requester on My settings
    client.force_login(requester)
    settings_page = client.get(reverse("stakeholders:settings"))
    assert 'id="api-tokens"' in settings_page.content.decode()
    # when they create a token
    response = client.post(reverse("api_tokens:create"), {"token-name": "Power BI", "token-valid_until": ""})
    # then the page shows the secret, once, and is not cached
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    secret = response.context["secret"]
    assert secret.startswith("sdk_") and secret in response.content.decode()
    token = ApiToken.objects.get(user=requester)
    # and only its hash and a short prefix are stored
    assert token.key_hash == token_hash(secret) and secret not in token.key_hash
    assert secret.startswith(token.prefix) and len(token.prefix) < len(secret)
    # and My settings lists it by name and prefix, never the secret
    listed = client.get(reverse("stakeholders:settings")).content.decode()
    assert "Power BI" in listed and token.prefix in listed and secret not in listed
    # and the token calls the API as the requester
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    me = api.get(ME)
    assert me.status_code == 200 and me.json()["username"] == requester.username
    token.refresh_from_db()
    assert token.last_used_at is not None


@pytest.mark.django_db
def test_a_token_with_an_expiry_date_in_the_past_is_refused_beside_the_field(client, requester):
    client.force_login(requester)
    yesterday = timezone.localdate() - timedelta(days=1)
    response = client.post(reverse("api_tokens:create"), {"token-name": "Old", "token-valid_until": yesterday})
    assert response.status_code == 400
    assert "This day has passed" in response.content.decode()
    assert not ApiToken.objects.exists()


@pytest.mark.django_db
def test_a_revoked_token_is_refused_at_once(client, requester):
    # given a working token
    token, secret = api_token_create(user=requester, name="Script")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get(ME).status_code == 200
    # when its owner revokes it on My settings
    client.force_login(requester)
    response = client.post(reverse("api_tokens:revoke", args=[token.pk]))
    assert response.status_code == 302
    # then a call with it is a 401 in the error format
    refused = api.get(ME)
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"] == "Bearer"
    assert _errors(refused)[0]["code"] == "authentication_failed"


@pytest.mark.django_db
def test_nobody_revokes_someone_elses_token(client, requester, colleague):
    token, _ = api_token_create(user=requester, name="Mine")
    client.force_login(colleague)
    assert client.post(reverse("api_tokens:revoke", args=[token.pk])).status_code == 404
    with pytest.raises(PermissionDenied):
        api_token_revoke(token=token, actor=colleague)
    token.refresh_from_db()
    assert token.revoked_at is None


@pytest.mark.django_db
def test_an_expired_token_or_an_inactive_owner_is_refused(requester, colleague):
    _, expired = api_token_create(user=requester, name="Short", expires_at=timezone.now() + timedelta(seconds=1))
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    _, inactive = api_token_create(user=colleague, name="Gone")
    colleague.is_active = False
    colleague.save(update_fields=["is_active"])
    for secret in (expired, inactive, "sdk_not-a-token"):
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        assert api.get(ME).status_code == 401


@pytest.mark.django_db
def test_without_credentials_the_api_answers_401(db):
    response = APIClient().get(ME)
    assert response.status_code == 401
    assert _errors(response)[0]["code"] == "not_authenticated"


@pytest.mark.django_db
def test_the_session_works_for_reads_and_needs_csrf_for_writes(requester):
    api = APIClient(enforce_csrf_checks=True)
    api.force_login(requester)
    assert api.get(ME).status_code == 200
    response = api.post("/api/v1/notifications/read-all/", {}, format="json")
    assert response.status_code == 403
    assert "CSRF" in _errors(response)[0]["message"]


@pytest.mark.django_db
def test_errors_404_405_415_and_malformed_json_share_the_format(token_client, requester):
    api = token_client(requester)
    missing = api.get("/api/v1/requests/PR-2099-999999/")
    assert missing.status_code == 404 and _errors(missing)[0]["code"] == "not_found"
    nowhere = api.get("/api/v1/no-such-thing/")
    assert nowhere.status_code == 404 and _errors(nowhere)[0]["code"] == "not_found"
    wrong_method = api.delete("/api/v1/requests/")
    assert wrong_method.status_code == 405 and _errors(wrong_method)[0]["code"] == "method_not_allowed"
    wrong_type = api.post("/api/v1/requests/", "title=x", content_type="text/plain")
    assert wrong_type.status_code == 415 and _errors(wrong_type)[0]["code"] == "unsupported_media_type"
    broken = api.post("/api/v1/requests/", "{not json", content_type="application/json")
    assert broken.status_code == 400 and _errors(broken)[0]["code"] == "parse_error"


@pytest.mark.django_db
def test_each_token_has_its_own_rate_limit_and_429_says_when_to_retry(monkeypatch, requester):
    # given a limit of three calls a minute
    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"token": "3/minute"})
    first, second = APIClient(), APIClient()
    first.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=requester, name='a')[1]}")
    second.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=requester, name='b')[1]}")
    # when the first token calls four times
    answers = [first.get(ME).status_code for _ in range(4)]
    # then the fourth is refused with 429, Retry-After and the error format
    assert answers == [200, 200, 200, 429]
    refused = first.get(ME)
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert _errors(refused)[0]["code"] == "throttled"
    # and the other token still has its budget
    assert second.get(ME).status_code == 200


def test_rate_limit_counters_live_in_redis_so_every_web_process_shares_them(require_service):
    from django.conf import settings
    from django.core.cache import cache

    require_service("Redis", bool(settings.REDIS_URL), "the shared cache needs REDIS_URL")
    import redis

    cache.set("shared-counter-probe", 7, timeout=30)
    # another process reads Redis, not this process's memory
    stored = list(redis.Redis.from_url(settings.REDIS_URL).scan_iter("*shared-counter-probe"))
    assert len(stored) == 1 and cache.get("shared-counter-probe") == 7
    cache.delete("shared-counter-probe")


@pytest.mark.django_db
def test_the_schema_is_openapi_3_and_the_docs_load_their_assets_from_our_own_static_files(client, requester):
    schema = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    document = schema.json()
    assert document["openapi"].startswith("3.")
    assert "/api/v1/requests/{reference}/claim/" in document["paths"]
    # every operation documents its errors in the one format
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for code in ("400", "401", "403", "429"):
                assert code in operation["responses"], (path, method, code)
    client.force_login(requester)
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    page = docs.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower() and "unpkg" not in page.lower()


@pytest.mark.django_db
def test_revoking_is_the_owners_and_revoking_twice_changes_nothing(requester, colleague):
    token, _ = api_token_create(user=requester, name="x")
    api_token_revoke(token=token, actor=requester)
    first = ApiToken.objects.get(pk=token.pk).revoked_at
    api_token_revoke(token=token, actor=requester)
    assert ApiToken.objects.get(pk=token.pk).revoked_at == first


@pytest.mark.django_db
def test_an_administrator_revokes_tokens_in_the_admin_without_seeing_secrets(client, admin_user, requester):
    token, secret = api_token_create(user=requester, name="Leaked")
    client.force_login(admin_user)
    listing = client.get(reverse("admin:api_apitoken_changelist")).content.decode()
    assert "Leaked" in listing and secret not in listing and token.key_hash not in listing
    response = client.post(
        reverse("admin:api_apitoken_changelist"), {"action": "revoke", "_selected_action": [token.pk]}
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


@pytest.mark.django_db
def test_a_crash_under_the_api_is_a_json_500_in_the_same_format(monkeypatch, requester):
    from api.views import MeView

    def crash(self, request):
        raise RuntimeError("a bug")

    monkeypatch.setattr(MeView, "get", crash)
    api = APIClient(raise_request_exception=False)
    api.force_authenticate(requester)
    response = api.get(ME)
    assert response.status_code == 500
    assert _errors(response) == [
        {"field": None, "code": "server_error", "message": "Something went wrong on our side; it has been logged."}
    ]
