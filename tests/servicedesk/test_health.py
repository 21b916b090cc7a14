"""/healthz/: what container health checks and load balancers call."""

import pytest


@pytest.mark.django_db
def test_health_answers_ok_when_the_database_answers(client):
    response = client.get("/healthz/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_health_answers_for_a_host_the_site_does_not_serve(client, settings):
    # given production-like host validation and an HTTPS redirect
    settings.ALLOWED_HOSTS = ["desk.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    # when a health check calls by IP over plain HTTP
    response = client.get("/healthz/", HTTP_HOST="10.0.0.7:8000")
    # then it is answered, not refused (400) or redirected (301)
    assert response.status_code == 200
    # and the rest of the site still enforces both
    assert client.get("/login/", HTTP_HOST="10.0.0.7:8000").status_code == 400


def test_health_reports_an_unreachable_database_as_503(run_fresh_python):
    # given a process whose database is a port where nothing listens
    probe = (
        "import django; django.setup();"
        "from django.test import Client;"
        "response = Client().get('/healthz/');"
        "print(response.status_code, response.json()['database'])"
    )
    # when its health check runs
    result = run_fresh_python(
        "-c",
        probe,
        env={
            "DJANGO_SETTINGS_MODULE": "servicedesk.settings.test",
            "DATABASE_URL": "postgres://nobody@127.0.0.1:9/none",
        },
    )
    # then it says the service is unavailable instead of failing with a 500
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["503", "unreachable"]
