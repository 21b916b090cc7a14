"""The routing page (procurement managers), the out-of-office page, and routing on the request page."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from requests_app.models import BuyerTeam, RoutingRule, RoutingStrategy
from stakeholders.models import Profile
from stakeholders.roles import Role
from tests.factories import CategoryFactory, euro, file_request, person
from tests.requests_app.test_routing import rule_for, team_of

ROLES = ["anon", "requester", "head", "buyer", "manager"]


@pytest.fixture
def cast(requester, head, buyer, manager):
    return {"anon": None, "requester": requester, "head": head, "buyer": buyer, "manager": manager}


@pytest.fixture
def goods():
    return CategoryFactory(name="Goods", approval_threshold=Decimal("5000"))


@pytest.fixture
def it_rule(buyer, other_buyer, goods):
    """The IT team (Bob leads, Betty is in it) takes Goods, least loaded."""
    return rule_for(team_of(buyer, other_buyer, lead=buyer), category=goods, name="IT hardware")


def _client_for(client, user):
    if user is not None:
        client.force_login(user)
    return client


def _rules():
    return list(RoutingRule.objects.values())


def page_of(response):
    return response.content.decode()


# --- access ---------------------------------------------------------------------------------------

# Anonymous users log in; everyone but a procurement manager gets 403, as for the work list.
EXPECTED = {"anon": "login", "requester": 403, "head": 403, "buyer": 403, "manager": 200}


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", ["routing", "routing_rule_create", "routing_rule_update"])
def test_only_procurement_managers_open_the_routing_pages(client, cast, it_rule, role, page):
    # given a logged-in user of each role (or none)
    client = _client_for(client, cast[role])
    args = [it_rule.pk] if page == "routing_rule_update" else []
    # when they open the page
    response = client.get(reverse(f"requests_app:{page}", args=args))
    # then only the manager sees it
    if EXPECTED[role] == "login":
        assert response.status_code == 302 and response.url.startswith(reverse("login"))
    else:
        assert response.status_code == EXPECTED[role]


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", ["create", "update", "delete", "move"])
def test_a_denied_rule_change_changes_nothing(client, cast, it_rule, goods, role, action):
    # given the rules as they are
    team = it_rule.team
    rule_for(team, category=goods, name="Second")
    before = _rules()
    client = _client_for(client, cast[role])
    url, data = {
        "create": (
            reverse("requests_app:routing_rule_create"),
            {"name": "New", "category": goods.pk, "team": team.pk, "strategy": "team_queue", "is_active": "on"},
        ),
        "update": (
            reverse("requests_app:routing_rule_update", args=[it_rule.pk]),
            {"name": "Renamed", "category": goods.pk, "team": team.pk, "strategy": "round_robin"},
        ),
        "delete": (reverse("requests_app:routing_rule_delete", args=[it_rule.pk]), {}),
        "move": (reverse("requests_app:routing_rule_move", args=[it_rule.pk]), {"direction": "down"}),
    }[action]
    # when they post the change
    response = client.post(url, data)
    # then a manager's goes through; anyone else's is refused and the rules are as they were
    if role == "manager":
        assert response.status_code == 302
        assert _rules() != before
    else:
        assert response.status_code == (302 if role == "anon" else 403)
        assert _rules() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "expected"), [("anon", "login"), ("requester", 403), ("head", 403), ("buyer", 200), ("manager", 200)]
)
def test_buyers_and_managers_open_the_out_of_office_page(client, cast, role, expected):
    client = _client_for(client, cast[role])
    response = client.get(reverse("requests_app:availability"))
    if expected == "login":
        assert response.status_code == 302 and response.url.startswith(reverse("login"))
    else:
        assert response.status_code == expected


# --- the routing page -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_routing_page_lists_the_rules_in_words_in_order_and_the_teams_with_who_is_away(
    client, manager, it_rule, other_buyer, goods
):
    # given a second rule tried first, and Betty out of office
    rule_for(it_rule.team, min_value=Decimal("1000"), max_value=Decimal("5000"), currency=euro(), name="Mid value")
    RoutingRule.objects.filter(name="Mid value").update(position=0)
    until = timezone.localdate() + timedelta(days=3)
    Profile.objects.create(user=other_buyer, away_until=until)
    client.force_login(manager)

    # when the manager opens the routing page
    page = page_of(client.get(reverse("requests_app:routing")))

    # then the rules come in the order they are tried, in words, the default last
    assert page.index("Mid value") < page.index("IT hardware") < page.index("Everything else")
    assert "Value 1,000–5,000 EUR and in EUR" in page
    assert "Category is Goods" in page
    # and the teams show their members, the lead, and who is away until when
    assert "Away until " + until.strftime("%a %-d %b") in page
    assert "Lead" in page


@pytest.mark.django_db
def test_try_it_shows_the_rule_and_the_buyer_and_writes_nothing(client, manager, it_rule, buyer, department, goods):
    client.force_login(manager)
    before = (_rules(), list(BuyerTeam.objects.values()))
    query = {
        "title": "Laptops",
        "category": goods.pk,
        "department": department.pk,
        "estimated_value": "1200",
        "currency": "EUR",
        "try": "1",
    }
    response = client.get(reverse("requests_app:routing"), query)
    page = page_of(response)
    assert "Rule <strong>IT hardware</strong> → team <strong>IT &amp; software</strong>" in page
    assert f"Buyer: <strong>{buyer.get_full_name() or buyer.username}</strong> (least loaded)" in page
    assert (_rules(), list(BuyerTeam.objects.values())) == before


@pytest.mark.django_db
def test_a_manager_creates_a_rule_from_the_form(client, manager, it_rule, goods):
    client.force_login(manager)
    response = client.post(
        reverse("requests_app:routing_rule_create"),
        {
            "name": "Big IT",
            "min_value": "50000",
            "title_keywords": "server",
            "team": it_rule.team_id,
            "strategy": RoutingStrategy.ROUND_ROBIN,
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    created = RoutingRule.objects.get(name="Big IT")
    assert (created.min_value, created.title_keywords, created.strategy) == (Decimal("50000"), "server", "round_robin")
    assert list(RoutingRule.objects.values_list("name", flat=True)) == ["IT hardware", "Big IT", "Everything else"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "", "category": "GOODS"}, "name", "This field is required."),
        ({"name": "Range", "min_value": "10", "max_value": "5"}, "max_value", "must not be below the minimum"),
        ({"name": "IT hardware", "category": "GOODS"}, "name", "already exists"),
    ],
)
def test_form_errors_appear_beside_their_fields_and_nothing_is_saved(
    client, manager, it_rule, goods, data, field, message
):
    client.force_login(manager)
    before = _rules()
    data = {key: (goods.pk if value == "GOODS" else value) for key, value in data.items()}
    response = client.post(
        reverse("requests_app:routing_rule_create"),
        {**data, "team": it_rule.team_id, "strategy": "least_loaded", "is_active": "on"},
    )
    assert response.status_code == 400
    page = page_of(response)
    # crispy renders a field's errors right under it, with an id naming the field
    error_at = page.index(f'id="error_1_id_{field}"')
    assert message in page[error_at : error_at + 300]
    assert 'is-invalid" id="id_' + field in page or f'id="id_{field}"' in page
    assert _rules() == before


@pytest.mark.django_db
def test_a_rule_without_conditions_is_refused_above_the_form(client, manager, it_rule):
    client.force_login(manager)
    response = client.post(
        reverse("requests_app:routing_rule_create"),
        {"name": "Anything", "team": it_rule.team_id, "strategy": "least_loaded", "is_active": "on"},
    )
    assert response.status_code == 400
    assert "Set at least one condition" in page_of(response)


@pytest.mark.django_db
def test_the_default_rules_form_offers_only_name_team_and_strategy_and_it_cannot_be_deleted(client, manager, it_rule):
    client.force_login(manager)
    default = RoutingRule.objects.get(is_default=True)
    page = page_of(client.get(reverse("requests_app:routing_rule_update", args=[default.pk])))
    assert 'name="team"' in page and 'name="strategy"' in page
    assert 'name="category"' not in page and 'name="is_active"' not in page
    assert "Delete this rule" not in page
    # when it is changed to least loaded on the IT team, then that is saved
    response = client.post(
        reverse("requests_app:routing_rule_update", args=[default.pk]),
        {"name": default.name, "team": it_rule.team_id, "strategy": "least_loaded"},
    )
    assert response.status_code == 302
    default.refresh_from_db()
    assert (default.team, default.strategy, default.is_default) == (it_rule.team, "least_loaded", True)
    # and deleting it is refused with a message
    response = client.post(reverse("requests_app:routing_rule_delete", args=[default.pk]), follow=True)
    assert "cannot be deleted" in page_of(response)
    assert RoutingRule.objects.filter(pk=default.pk).exists()


@pytest.mark.django_db
def test_moving_a_rule_down_changes_the_order(client, manager, it_rule, goods):
    second = rule_for(it_rule.team, category=goods, name="Second")
    client.force_login(manager)
    client.post(reverse("requests_app:routing_rule_move", args=[it_rule.pk]), {"direction": "down"})
    assert list(RoutingRule.objects.values_list("pk", flat=True))[:2] == [second.pk, it_rule.pk]


ROUTING_PAGE_QUERIES = 13  # 6 for the session, user and navigation; rules, teams, members, 4 choice lists


@pytest.mark.django_db
@pytest.mark.parametrize("size", [1, 5])
def test_the_routing_page_takes_a_fixed_number_of_queries(
    client, manager, procurement_department, goods, django_assert_num_queries, size
):
    # given `size` teams of three buyers, one away, each with a rule and open work
    requester = person(Role.REQUESTER, procurement_department, username="rita")
    for index in range(size):
        members = [person(Role.BUYER, procurement_department, username=f"b{index}-{n}") for n in range(3)]
        Profile.objects.create(user=members[0], away_until=timezone.localdate())
        rule_for(team_of(*members, name=f"Team {index}", lead=members[1]), title_keywords=f"word{index}")
        file_request(requester, category=goods, title=f"word{index} request")
    client.force_login(manager)
    client.get(reverse("requests_app:routing"))  # warm the session and permission caches

    # when the page is opened, then the number of queries does not grow with rules, teams or members
    with django_assert_num_queries(ROUTING_PAGE_QUERIES):
        response = client.get(reverse("requests_app:routing"))
    assert response.status_code == 200


# --- out of office --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_buyer_marks_themselves_out_of_office(client, buyer):
    client.force_login(buyer)
    until = timezone.localdate() + timedelta(days=4)
    page = page_of(client.get(reverse("requests_app:availability")))
    assert 'name="buyer"' not in page  # their own date only
    response = client.post(reverse("requests_app:availability"), {"away_until": until.isoformat()})
    assert response.status_code == 302
    assert Profile.objects.get(user=buyer).away_until == until


@pytest.mark.django_db
def test_a_buyer_cannot_set_someone_elses_date_by_posting_their_id(client, buyer, other_buyer):
    client.force_login(other_buyer)
    response = client.post(
        reverse("requests_app:availability"),
        {"buyer": buyer.pk, "away_until": (timezone.localdate() + timedelta(days=1)).isoformat()},
    )
    # the field is not offered to a plain buyer, so the post sets their own date, never Bob's
    assert response.status_code == 302
    assert not Profile.objects.filter(user=buyer).exists()


@pytest.mark.django_db
def test_a_manager_sets_a_buyers_date_from_the_routing_page_and_returns_there(client, manager, buyer):
    client.force_login(manager)
    until = timezone.localdate() + timedelta(days=2)
    response = client.post(
        reverse("requests_app:availability"),
        {"buyer": buyer.pk, "away_until": until.isoformat(), "next": reverse("requests_app:routing")},
    )
    assert response.status_code == 302
    assert response.url == reverse("requests_app:routing")
    assert Profile.objects.get(user=buyer).away_until == until


@pytest.mark.django_db
def test_a_past_date_is_refused_beside_the_field(client, buyer):
    client.force_login(buyer)
    response = client.post(
        reverse("requests_app:availability"),
        {"away_until": (timezone.localdate() - timedelta(days=1)).isoformat()},
    )
    assert response.status_code == 400
    page = page_of(response)
    error_at = page.index('id="error_1_id_away_until"')
    assert "in the past" in page[error_at : error_at + 300]
    assert not Profile.objects.filter(user=buyer).exists()


# --- the request page and navigation --------------------------------------------------------------


@pytest.mark.django_db
def test_the_request_page_shows_the_team_and_flags_an_absent_buyer(client, requester, buyer, it_rule, goods):
    # given a request routed to Bob, who then goes away
    procurement_request = file_request(requester, category=goods)
    assert procurement_request.assignee == buyer
    until = timezone.localdate() + timedelta(days=3)
    Profile.objects.create(user=buyer, away_until=until)
    client.force_login(requester)
    # when the requester opens it, then the team and the out-of-office flag are beside the buyer
    page = page_of(client.get(reverse("requests_app:detail", args=[procurement_request.reference])))
    assert "IT &amp; software" in page
    assert f"Out of office until {until.strftime('%a %-d %b')}" in page
    assert "routed the request to" in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "routing_link", "away_link"),
    [("requester", False, False), ("buyer", False, True), ("manager", True, True)],
)
def test_the_navigation_offers_routing_to_managers_and_out_of_office_to_buyers(
    client, cast, role, routing_link, away_link
):
    client.force_login(cast[role])
    page = page_of(client.get(reverse("requests_app:mine")))
    assert (f'href="{reverse("requests_app:routing")}"' in page) is routing_link
    assert (f'href="{reverse("requests_app:availability")}"' in page) is away_link


@pytest.mark.django_db
def test_the_team_lead_sees_reroute_and_assign_on_the_teams_request(
    client, requester, buyer, other_buyer, it_rule, goods
):
    # given a request the IT team's rule gave to Bob, the lead; Betty is in the team
    procurement_request = file_request(requester, category=goods)
    client.force_login(buyer)
    page = page_of(client.get(reverse("requests_app:detail", args=[procurement_request.reference])))
    assert "Re-route…" in page and "Assign…" in page
    # when Bob reassigns it to Betty from the page without a reason, then the reason is asked for beside it
    response = client.post(
        reverse("requests_app:assign", args=[procurement_request.reference]), {"assignee": other_buyer.pk}
    )
    assert response.status_code == 400
    error_at = page_of(response).index('id="error_1_id_assign_note"')
    assert "reason for reassigning" in page_of(response)[error_at : error_at + 300]
