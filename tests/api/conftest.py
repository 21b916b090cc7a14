"""API test helpers: a client that calls as a person through a real token."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from api.services import api_token_create


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Rate-limit counters live in the cache: each test starts with a full budget."""
    cache.clear()
    yield
    cache.clear()


def token_client(user):
    """An APIClient that sends `user`'s new token (None: no credentials)."""
    client = APIClient()
    if user is not None:
        _token, secret = api_token_create(user=user, name="tests")
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture(name="token_client")
def token_client_fixture(db):
    return token_client
