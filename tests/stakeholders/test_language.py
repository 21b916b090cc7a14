"""Every notice reaches people in their own language: chosen on My settings, applied per recipient
whoever caused it, in the app and by e-mail; the German catalogue covers every notice."""

import re
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.core import mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from requests_app import services as request_services
from requests_app.models import Watcher
from requests_app.notifications import RECIPIENTS
from stakeholders.models import Channel, Notification, NotificationKind, Profile
from stakeholders.services import notification_deliver, profile_update
from tests.factories import file_request
from tests.stakeholders.test_coalescing import T0, at, deliver_all

pytestmark = pytest.mark.django_db

PO_FILE = Path(settings.BASE_DIR) / "locale" / "de" / "LC_MESSAGES" / "django.po"


def _log_in(client, user):
    user.set_password("pw")
    user.save(update_fields=["password"])
    assert client.post(reverse("login"), {"username": user.username, "password": "pw"}).status_code == 302
    return client


@pytest.fixture
def claimed(requester, buyer, settings):
    settings.NOTIFICATION_COALESCE_SECONDS = 0  # e-mails go at once: one per notice
    return request_services.procurement_request_claim(procurement_request=file_request(requester), actor=buyer)


def _reply_notices(recipient, channel):
    return Notification.objects.filter(recipient=recipient, kind=NotificationKind.REPLY, channel=channel)


def test_a_buyers_reply_reaches_a_german_requester_in_german_and_an_english_follower_in_english(
    claimed, requester, colleague, buyer
):
    # given Alice reads German and Carol, who follows the request, keeps the desk's English
    profile_update(user=requester, actor=requester, language="de")
    Watcher.objects.create(procurement_request=claimed, user=colleague)
    reference, name = claimed.reference, buyer.get_full_name() or buyer.username

    # when Bob replies (his own page in English, as the test runs)
    request_services.comment_add(procurement_request=claimed, author=buyer, body="Welche Farbe?")

    # then Alice's line and e-mail are German, Carol's English
    german = _reply_notices(requester, Channel.IN_APP).get().payload
    english = _reply_notices(colleague, Channel.IN_APP).get().payload
    assert german["headline"] == f"{name} hat geantwortet"
    assert english["headline"] == f"{name} replied"
    assert f"{name} schreibt zu {reference} — {claimed.title}:" in german["summary"]
    assert f"{name} wrote on {reference} — {claimed.title}:" in english["summary"]

    mail.outbox.clear()
    for notice in Notification.objects.filter(kind=NotificationKind.REPLY, channel=Channel.EMAIL):
        assert notification_deliver(notification_id=notice.pk) == "sent"
    by_recipient = {message.to[0]: message for message in mail.outbox}
    to_alice, to_carol = by_recipient[requester.email], by_recipient[colleague.email]
    assert to_alice.subject == f"[{reference}] {name} hat geantwortet"
    assert "Welche Farbe?" in to_alice.body and "Anfrage öffnen:" in to_alice.body
    assert "Welche Benachrichtigungen Sie per E-Mail erhalten" in to_alice.alternatives[0][0]
    assert to_carol.subject == f"[{reference}] {name} replied"
    assert "Open the request:" in to_carol.body and "Anfrage" not in to_carol.body


def test_a_digest_of_several_notices_is_written_in_the_recipients_language(requester, buyer, settings):
    # given a German requester whose request Bob claimed, the earlier e-mails out of the way
    settings.NOTIFICATION_COALESCE_SECONDS = 120
    profile_update(user=requester, actor=requester, language="de")
    with at(T0 - timedelta(minutes=30)):
        claimed = request_services.procurement_request_claim(procurement_request=file_request(requester), actor=buyer)
    deliver_all(T0 - timedelta(minutes=20))
    mail.outbox.clear()

    # when Bob replies twice within the window, and the e-mails go after it
    for seconds, text in ((0, "Erstens"), (10, "Zweitens")):
        with at(T0 + timedelta(seconds=seconds)):
            request_services.comment_add(procurement_request=claimed, author=buyer, body=text)
    deliver_all(T0 + timedelta(minutes=5))

    # then one German digest carries both
    (message,) = mail.outbox
    assert message.subject == f"[{claimed.reference}] 2 Neuigkeiten: {claimed.title}"
    assert f"2 Neuigkeiten zu {claimed.reference}" in message.body
    assert "Erstens" in message.body and "Zweitens" in message.body and "Anfrage öffnen:" in message.body


# --- My settings ---------------------------------------------------------------------------------------


def test_a_person_chooses_german_on_my_settings_and_the_pages_follow(client, requester):
    _log_in(client, requester)

    response = client.post(reverse("stakeholders:settings"), {"language": "de", "time_zone": ""})

    assert response.status_code == 302
    assert Profile.objects.get(user=requester).language == "de"
    page = client.get(reverse("stakeholders:settings"))
    assert '<html lang="de"' in page.content.decode()
    assert page.context["form"].initial["language"] == "de"


def test_a_language_chosen_earlier_applies_from_the_next_login(client, requester):
    profile_update(user=requester, actor=requester, language="de")

    page = _log_in(client, requester).get(reverse("stakeholders:settings"))

    assert '<html lang="de"' in page.content.decode()


def test_an_unknown_language_is_refused_beside_the_field(client, requester):
    _log_in(client, requester)

    response = client.post(reverse("stakeholders:settings"), {"language": "fr", "time_zone": ""})

    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["language"]
    assert Profile.objects.filter(user=requester, language="fr").count() == 0


def test_blank_is_the_desks_language(requester):
    profile = profile_update(user=requester, actor=requester, language="")

    assert (profile.language, profile.language_code) == ("", settings.LANGUAGE_CODE)


# --- the catalogue -------------------------------------------------------------------------------------

# Enough of each kind's context for its headline (every branch that has one).
HEADLINE_CONTEXT = {
    "procurement_request": SimpleNamespace(title="Laptop", department="Sales"),
    "reference": "PR-2026-000123",
    "actor": object(),
    "actor_name": "Bob Buyer",
    "assignee_name": "Betty Buyer",
    "buyer_name": "Bob Buyer",
    "team_name": "Indirect",
    "po_number": "4500001",
    "expected_on": date(2026, 12, 1),
    "away_until": date(2026, 12, 1),
    "open_count": 2,
    "body": "Hello",
    "part": "headline",
}


@pytest.mark.parametrize("kind", sorted({*RECIPIENTS, NotificationKind.BUYER_AWAY}))
def test_every_kinds_headline_is_translated_into_german(kind):
    template = f"stakeholders/notifications/{kind}.html"
    with translation.override("en"):
        english = render_to_string(template, HEADLINE_CONTEXT).strip()
    with translation.override("de"):
        german = render_to_string(template, HEADLINE_CONTEXT).strip()

    assert german != english, f"{kind}: the German catalogue (locale/de) lacks its headline, or the .mo is stale"


def test_every_kinds_label_is_translated_into_german():
    with translation.override("en"):
        english = {kind.value: str(kind.label) for kind in NotificationKind}
    with translation.override("de"):
        untranslated = [kind.value for kind in NotificationKind if str(kind.label) == english[kind.value]]

    assert untranslated == []


def _unescape(text):
    return text.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")


def _po_entries(path):
    """{msgid: msgstr} of a .po file (plural entries by their singular, with the first form)."""
    entries, key, current = {}, None, {}
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        match = re.match(r'^(msgid|msgid_plural|msgstr(?:\[0\])?|msgstr\[\d+\])? ?"(.*)"$', line)
        if match and match.group(1):
            key = match.group(1)
            current[key] = match.group(2)
        elif match and key:
            current[key] += match.group(2)
        elif not line.strip():
            msgstr = current.get("msgstr", current.get("msgstr[0]"))
            if current.get("msgid") and msgstr is not None:
                entries[_unescape(current["msgid"])] = _unescape(msgstr)
            key, current = None, {}
    return entries


def test_the_compiled_catalogue_matches_the_po_file():
    """The committed .mo is what `compilemessages` makes of the .po: none stale, none untranslated."""
    entries = _po_entries(PO_FILE)
    with translation.override("de"):
        catalog = translation.trans_real.translation("de")._catalog
        # A plural entry is stored under (msgid, form).
        compiled = {msgid: catalog.get(msgid, catalog.get((msgid, 0))) for msgid in entries}
    stale = [msgid for msgid, msgstr in entries.items() if not msgstr or compiled[msgid] != msgstr]

    assert len(entries) > 80
    assert stale == []
