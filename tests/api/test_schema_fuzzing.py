"""Schemathesis against the live schema: every endpoint, with positive and negative cases, as a
procurement manager with a real token (through the WSGI application, in the suite's transaction).

It finds no 500s and no answer that the schema does not describe: status codes, content types and
bodies (errors included) all conform. MAX_EXAMPLES keeps the run within about a minute and a half here.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.services import api_token_create
from api.throttling import TokenRateThrottle
from requests_app import services
from tests.factories import file_request

MAX_EXAMPLES = 10
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(autouse=True)
def _connection_kept_open():
    """As Django's test client does: a request must not close the connection that holds the test's
    transaction (the WSGI handler closes "old" connections when a request starts and finishes)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def manager_headers(monkeypatch, manager, requester, buyer):
    """A manager's token, and a few requests in different states for the cases to land on."""
    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"token": "1000000/minute"})
    submitted = file_request(requester, title="Desk lamps")
    claimed = file_request(requester, title="Laptops")
    services.procurement_request_claim(procurement_request=claimed, actor=buyer)
    services.comment_add(procurement_request=submitted, author=buyer, body="Which model?")
    _, secret = api_token_create(user=manager, name="schemathesis")
    return {"Authorization": f"Bearer {secret}"}


# Loaded when the module is collected: the schema is public and generating it reads no database.
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", get_wsgi_application())


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@pytest.mark.django_db
def test_every_endpoint_answers_as_its_schema_says_and_never_500(case, manager_headers):
    case.call_and_validate(headers=manager_headers, checks=CHECKS)
