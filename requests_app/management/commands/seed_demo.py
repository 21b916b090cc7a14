"""Demo data for a first look: departments, one login per role, and requests in every state.

Idempotent: people and departments are upserted, and each demo request has a fixed submission
token, so a second run finds them and changes nothing.
"""

import uuid
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from requests_app import services
from requests_app.models import (
    BuyerTeam,
    Category,
    Comment,
    Currency,
    EventKind,
    ProcurementRequest,
    RequestEvent,
    RoutingRule,
    RoutingStrategy,
)
from requests_app.routing import DEFAULT_RULE, DEFAULT_TEAM, routing_defaults_ensure
from slas.demo import OFFICE_CALENDAR, sla_defaults_ensure
from slas.models import BusinessCalendar
from slas.services import sla_clocks_rebuild
from stakeholders.models import Department, profile_for
from stakeholders.roles import Role
from stakeholders.services import department_upsert, person_upsert, roles_ensure

DEMO_PASSWORD = "demo"

DEPARTMENTS = [
    ("Sales", "SALES"),
    ("Marketing", "MKT"),
    ("Operations", "OPS"),
    ("Manufacturing", "MFG"),
    ("Finance", "FIN"),
    ("Quality Assurance", "QA"),
    ("Research & Development", "RND"),
    ("Logistics & Distribution", "LOG"),
    ("Engineering & Design", "ENG"),
    ("Executive Management", "EXEC"),
    ("Information Technology", "IT"),
    ("Service Departments", "SVC"),
]

# (username, first, last, department code, role, job title)
PEOPLE = [
    ("alice", "Alice", "Andersen", "SALES", Role.REQUESTER, "Account manager"),
    ("carol", "Carol", "Castillo", "SALES", Role.REQUESTER, "Sales assistant"),
    ("hannah", "Hannah", "Hoffmann", "SALES", Role.DEPARTMENT_HEAD, "Head of Sales"),
    ("oscar", "Oscar", "Olsen", "FIN", Role.REQUESTER, "Controller"),
    ("frank", "Frank", "Fischer", "FIN", Role.DEPARTMENT_HEAD, "CFO"),
    ("ivan", "Ivan", "Ivanov", "IT", Role.REQUESTER, "Systems engineer"),
    ("greta", "Greta", "Gruber", "IT", Role.DEPARTMENT_HEAD, "CIO"),
    ("mike", "Mike", "Meyer", "MFG", Role.REQUESTER, "Production planner"),
    ("nora", "Nora", "Novak", "MKT", Role.REQUESTER, "Event manager"),
    ("bob", "Bob", "Brandt", "PROC", Role.BUYER, "Buyer, indirect & services"),
    ("betty", "Betty", "Berger", "PROC", Role.BUYER, "Buyer, IT & software"),
    ("tom", "Tom", "Thiel", "PROC", Role.BUYER, "Buyer, IT & software"),
    ("dan", "Dan", "Dietz", "PROC", Role.BUYER, "Buyer, direct materials"),
    ("paula", "Paula", "Pohl", "PROC", Role.BUYER, "Buyer, capital projects and direct materials"),
    ("maria", "Maria", "Martens", "PROC", Role.PROCUREMENT_MANAGER, "Head of Procurement"),
]

# (name, lead, members, description)
TEAMS = [
    ("Direct materials", "dan", ["dan", "paula"], "Production materials and parts for Manufacturing."),
    ("Indirect & services", "bob", ["bob"], "Everything the offices need: goods, services, events."),
    ("IT & software", "betty", ["betty", "tom"], "Hardware, licences and cloud services."),
    ("Capital projects", "maria", ["paula", "dan"], "Machines, large purchases and tenders."),
]
# (name, team, strategy, conditions), tried in this order; the default rule comes last.
RULES = [
    ("Capital equipment", "Capital projects", RoutingStrategy.TEAM_QUEUE, {"category": "Capital equipment"}),
    ("Large purchases", "Capital projects", RoutingStrategy.TEAM_QUEUE, {"min_value": Decimal("100000")}),
    (
        "IT hardware",
        "IT & software",
        RoutingStrategy.LEAST_LOADED,
        {"title_keywords": "laptop, notebook, monitor, server, switch, printer"},
    ),
    ("Software and SaaS", "IT & software", RoutingStrategy.ROUND_ROBIN, {"category": "Software & SaaS"}),
    (
        "Manufacturing supplies",
        "Direct materials",
        RoutingStrategy.LEAST_LOADED,
        {"department": "MFG", "category": "Goods"},
    ),
    ("US-dollar purchases", "Indirect & services", RoutingStrategy.ROUND_ROBIN, {"currency": "USD"}),
]
DEFAULT_RULE_TEAM = "Indirect & services"  # the default rule: its team queue, buyers claim from it
AWAY = ("paula", 7)  # out of office for a week from now: routing passes her over

# (key, requester, title, category, priority, value, currency, confidential, days ago, script)
# The script is the lifecycle the request has been through after routing: each step is (verb, actor,
# extra), where the actor ASSIGNEE is whichever buyer routing picked; its steps are spread evenly
# over the days since filing, and the SLA clocks replay that history, so the demo shows clocks
# running, paused, met, missed and breached.
R = "reply"
ASSIGNEE = "@assignee"
# fmt: off
REQUESTS = [
    ("r01", "alice", "Trade fair booth for Hannover Messe", "Travel & events", "high", "18500", "EUR", False, 9, [
        ("approve", "hannah", {}),
        ("assign", "maria", {"assignee": "bob"}),
        (R, "bob", {"body": "I have asked three stand builders for quotes; first drafts by Friday."}),
        ("start", "bob", {}),
    ]),
    ("r02", "alice", "CRM licences for five new account managers", "Software & SaaS", "normal", "2400", "EUR",
     False, 3, [
        ("start", ASSIGNEE, {}),
        ("wait_for_requester", ASSIGNEE, {"note": "Which CRM edition: Professional or Enterprise?"}),
    ]),
    ("r03", "carol", "Printed brochures for Q1 campaign", "Goods", "normal", "1800", "EUR", False, 0.1, []),
    ("r04", "alice", "Laptop replacement (broken screen)", "Goods", "urgent", "1350", "EUR", False, 1, []),
    ("r05", "carol", "Customer gifts for key accounts", "Goods", "low", "950", "EUR", False, 15, [
        ("claim", "bob", {}),
        (R, "bob", {"body": "Which budget per gift? I will propose three options."}),
        ("start", "bob", {}),
        ("mark_ordered", "bob", {"po_number": "PO-4500012345"}),
        ("complete", "bob", {"note": "Delivered to the Sales office."}),
    ]),
    ("r06", "hannah", "Sales kick-off venue", "Travel & events", "high", "42000", "EUR", True, 3, []),
    ("r07", "oscar", "Audit support from external accountants", "Services", "normal", "35000", "EUR", False, 12, [
        ("approve", "frank", {}),
        ("assign", "maria", {"assignee": "paula", "note": "Paula ran last year's audit tender."}),
        ("start", "paula", {}),
        ("wait_for_supplier", "paula", {}),
    ]),
    ("r08", "oscar", "Renew the treasury platform contract", "Contract renewal", "high", "60000", "USD", False, 5, []),
    ("r09", "ivan", "Cloud backup storage expansion", "Software & SaaS", "high", "7800", "EUR", False, 0.2, [
        ("approve", "greta", {}),
    ]),
    ("r10", "ivan", "Network switches for the new wing", "Goods", "normal", "4200", "GBP", False, 20, [
        ("start", ASSIGNEE, {}),
        (R, ASSIGNEE, {"body": "Quote from two distributors attached to the order."}),
        ("mark_ordered", ASSIGNEE, {"po_number": "PO-4500012001"}),
    ]),
    ("r11", "mike", "Spare parts for the packaging line", "Goods", "urgent", "3100", "EUR", False, 0.3, [
        (R, ASSIGNEE, {"body": "Ordering from our framework supplier today."}),
    ]),
    ("r12", "nora", "Photographer for product launch", "Services", "normal", "2500", "EUR", False, 7, [
        ("cancel", "nora", {"note": "The launch moved to next quarter."}),
    ]),
    ("r13", "mike", "CNC milling machine", "Capital equipment", "normal", "145000", "EUR", False, 10, [
        ("approve", "maria", {"note": "Budgeted in this year's capital plan."}),  # Manufacturing has no head
    ]),
    ("r14", "nora", "Booth graphics for the spring fair", "Goods", "high", "1900", "EUR", False, 30, [
        ("claim", "bob", {}),
        (R, "bob", {"body": "Printer booked; proofs come on Monday."}),
        ("start", "bob", {}),
        ("complete", "bob", {"note": "Delivered and installed."}),
    ]),
    ("r15", "ivan", "Monitors for the support team", "Goods", "normal", "2600", "EUR", False, 25, [
        ("start", ASSIGNEE, {}),
        (R, ASSIGNEE, {"body": "Ordered the 27-inch model we use elsewhere."}),
        ("mark_ordered", ASSIGNEE, {"po_number": "PO-4500011890"}),
        ("complete", ASSIGNEE, {}),
    ]),
    ("r16", "alice", "Headsets for the inside sales team", "Goods", "normal", "640", "EUR", False, 6, [
        ("claim", "bob", {}),
        ("start", "bob", {}),
        ("complete", "bob", {"note": "Twelve headsets handed over to Alice."}),
    ]),
]
# fmt: on
# Answers to the completed requests' satisfaction surveys: (key's title, rating, comment, days ago).
# Nora's low score opens a follow-up for the team lead; Ivan's and Alice's surveys wait for an answer.
SURVEY_ANSWERS = [
    ("Customer gifts for key accounts", 5, "Three good options within a day, delivered on time.", 9),
    ("Booth graphics for the spring fair", 2, "The proofs came two days before the fair; far too close.", 1),
]


class Command(BaseCommand):
    help = "Create demo departments, one login per role (password 'demo') and sample requests. Idempotent."

    def handle(self, *args, **options):
        with transaction.atomic():
            roles_ensure()
            sla_defaults_ensure()
            routing_defaults_ensure()
            people = self._people()
            self._routing(people)
            created = self._requests(people)
            self._away(people)
            self._relations(people)
            self._satisfaction()
            self._relationship_survey(people)
        self.stdout.write(self.style.SUCCESS(f"Demo data ready: {len(people)} people, {created} new requests."))
        self.stdout.write("Log in at http://127.0.0.1:8000/ with password 'demo' as: " + ", ".join(sorted(people)))

    def _people(self):
        departments = {code: department_upsert(name=name, code=code) for name, code in DEPARTMENTS}
        departments["PROC"] = department_upsert(name="Procurement", code="PROC", is_procurement=True)
        people = {}
        for username, first, last, code, role, job_title in PEOPLE:
            people[username] = person_upsert(
                username=username,
                first_name=first,
                last_name=last,
                email=f"{username}@example.com",
                department=departments[code],
                roles=[role],
                password=DEMO_PASSWORD,
                job_title=job_title,
            )
            if role == Role.DEPARTMENT_HEAD:
                Department.objects.filter(pk=departments[code].pk, head__isnull=True).update(head=people[username])
        admin, created = get_user_model().objects.get_or_create(
            username="admin", defaults={"is_staff": True, "is_superuser": True, "email": "admin@example.com"}
        )
        if created:
            admin.set_password(DEMO_PASSWORD)
            admin.save(update_fields=["password"])
        people["admin"] = admin
        # The procurement manager runs reference data (categories, currencies, departments) in the admin.
        manager = people["maria"]
        if not manager.is_staff:
            manager.is_staff = True
            manager.save(update_fields=["is_staff"])
        manager.user_permissions.set(
            Permission.objects.filter(
                content_type__app_label__in=["requests_app", "stakeholders", "slas"],
                content_type__model__in=[
                    "category",
                    "currency",
                    "department",
                    "membership",
                    "procurementrequest",
                    "requestevent",
                    "comment",
                    "attachment",
                    "businesscalendar",
                    "businesscalendarversion",
                    "slapolicy",
                    "slagoal",
                    "slaclock",
                    "slapause",
                    "buyerteam",
                    "teammembership",
                    "routingrule",
                    "profile",
                ],
            )
        )
        return people

    def _relations(self, people):
        """Sales: two agreement versions (the current one signed off), a quarterly schedule, a past meeting
        with published outcomes and an overdue action item, and the next meeting. Finance: an agreement
        whose review date has passed. Only once: a department that has an agreement is left alone."""
        from slas.models import SlaPolicy
        from stakeholders import relations
        from stakeholders.models import ServiceAgreement

        manager, now = people["maria"], timezone.now()
        today = timezone.localdate(now)
        sales, finance = Department.objects.get(code="SALES"), Department.objects.get(code="FIN")
        if not ServiceAgreement.objects.filter(department=sales).exists():
            sales.contacts.add(people["alice"], people["carol"])
            standard = SlaPolicy.objects.filter(is_default=True)
            relations.service_agreement_create(
                department=sales,
                actor=manager,
                policies=standard,
                review_on=today - timedelta(days=120),
                notes="Quarterly review with the head of Sales.",
                change_note="First agreement",
                now=now - timedelta(days=400),
            )
            current = relations.service_agreement_create(
                department=sales,
                actor=manager,
                policies=standard,
                deviations="Customer-event travel (Travel & events) is treated as High priority.",
                notes="Quarterly review with the head of Sales.",
                review_on=today + timedelta(days=240),
                change_note="Event travel raised to High after the Q3 review",
                now=now - timedelta(days=30),
            )
            relations.service_agreement_sign_off(
                agreement=current, actor=people["hannah"], now=now - timedelta(days=28)
            )
            relations.meeting_schedule_set(
                department=sales, actor=manager, every_months=3, title="Quarterly service review with Sales"
            )
            held_at = (now - timedelta(days=35)).replace(hour=10, minute=0, second=0, microsecond=0)
            while held_at.weekday() >= 5:  # a working day
                held_at -= timedelta(days=1)
            past = relations.meeting_plan(
                department=sales,
                actor=manager,
                title="Quarterly service review with Sales",
                starts_at=held_at,
                agenda="1. SLA results of the quarter\n2. Laptop catalogue\n3. Event travel",
                attendees=[people["hannah"], people["alice"], people["maria"], people["bob"]],
            )
            relations.meeting_update(
                meeting=past,
                actor=manager,
                title=past.title,
                starts_at=past.starts_at,
                agenda=past.agenda,
                minutes="Sales is happy with response times; two laptop orders were late (supplier).",
                decisions="New starters' laptops come from the standard catalogue.\nEvent travel is High priority.",
                attendees=[people["hannah"], people["alice"], people["maria"], people["bob"]],
            )
            relations.action_item_add(
                meeting=past,
                actor=manager,
                title="Send the hiring forecast for Q1",
                owner=people["hannah"],
                due_on=today - timedelta(days=5),
            )
            done = relations.action_item_add(
                meeting=past,
                actor=manager,
                title="Publish the laptop catalogue",
                owner=people["bob"],
                due_on=today - timedelta(days=20),
            )
            relations.action_item_set_status(item=done, actor=people["bob"], status="done")
            relations.meeting_outcomes_publish(
                meeting=past,
                actor=manager,
                summary="Response times are on target. Laptops for new starters now come from the standard "
                "catalogue; customer-event travel is handled as High priority.",
                now=held_at + timedelta(days=2),
            )  # plans the next quarterly meeting
        if not ServiceAgreement.objects.filter(department=finance).exists():
            relations.service_agreement_create(
                department=finance,
                actor=manager,
                review_on=today - timedelta(days=3),
                notes="Month-end closing week: no non-urgent requests.",
                change_note="First agreement",
                now=now - timedelta(days=365),
            )

    def _satisfaction(self):
        """Surveys sent when their request was completed; Carol's and Nora's answered (see SURVEY_ANSWERS).
        Only unanswered surveys are touched, so a second run changes nothing."""
        from stakeholders import surveys
        from stakeholders.models import SatisfactionSurvey

        now = timezone.now()
        for survey in SatisfactionSurvey.objects.select_related("procurement_request"):
            completed_at = survey.procurement_request.completed_at
            if completed_at is not None and survey.sent_at > completed_at:  # the requests were backdated
                SatisfactionSurvey.objects.filter(pk=survey.pk).update(sent_at=completed_at)
        for title, rating, comment, days_ago in SURVEY_ANSWERS:
            survey = (
                SatisfactionSurvey.objects.unanswered()
                .filter(procurement_request__title=title)
                .select_related("requester")
                .first()
            )
            if survey is not None:
                surveys.survey_answer(
                    survey=survey,
                    actor=survey.requester,
                    rating=rating,
                    comment=comment,
                    now=now - timedelta(days=days_ago),
                )

    def _relationship_survey(self, people):
        """Sales is asked twice a year: last round answered by Alice, Carol and Hannah; this round open,
        answered by Carol so far (Alice can answer it). Only once: a department with rounds is left alone."""
        from stakeholders import surveys
        from stakeholders.models import RelationshipSurvey
        from stakeholders.relations import add_months

        sales = Department.objects.get(code="SALES")
        if RelationshipSurvey.objects.filter(department=sales).exists():
            return
        now = timezone.now()
        today = timezone.localdate(now)
        six_months_ago = add_months(today, -6)
        before = now - (today - six_months_ago)
        surveys.relationship_survey_schedule_set(
            department=sales, actor=people["maria"], every_months=6, next_on=six_months_ago
        )
        surveys.relationship_surveys_open(now=before)
        surveys.relationship_surveys_open(now=now)  # the schedule came round again: this half-year's round
        last, current = RelationshipSurvey.objects.filter(department=sales).order_by("opened_on")
        answers = [
            (last, "alice", (3, 3, 2, 3), "We rarely hear how a request is going.", before),
            (last, "carol", (4, 3, 3, 4), "", before),
            (last, "hannah", (3, 4, 2, 3), "", before),
            (current, "carol", (4, 4, 4, 4), "The expected dates help a lot.", now),
        ]
        for survey, username, ratings, comment, moment in answers:
            surveys.relationship_survey_answer(
                survey=survey,
                actor=people[username],
                answers=dict(zip(["responsive", "understands", "informs", "adds_value"], ratings, strict=True)),
                comment=comment,
                now=moment + timedelta(days=2),
            )

    def _routing(self, people):
        """The four teams, their rules, and the default rule on the indirect team's queue."""
        manager = people["maria"]
        calendar = BusinessCalendar.objects.get(name=OFFICE_CALENDAR)
        teams = {
            name: services.buyer_team_upsert(
                name=name,
                calendar=calendar,
                lead=people[lead],
                description=description,
                members=[people[username] for username in members],
            )
            for name, lead, members, description in TEAMS
        }
        references = {
            "category": lambda name: Category.objects.get(name=name),
            "department": lambda code: Department.objects.get(code=code),
            "currency": lambda code: Currency.objects.get(code=code),
        }
        for name, team, strategy, conditions in RULES:
            if RoutingRule.objects.filter(name=name).exists():
                continue  # a manager may have tuned it since
            fields = {key: references.get(key, lambda value: value)(value) for key, value in conditions.items()}
            services.routing_rule_create(actor=manager, name=name, team=teams[team], strategy=strategy, **fields)
        default = RoutingRule.objects.get(is_default=True)
        if default.name == DEFAULT_RULE and default.team.name == DEFAULT_TEAM:  # as the migration left it
            services.routing_rule_update(
                rule=default, actor=manager, team=teams[DEFAULT_RULE_TEAM], strategy=RoutingStrategy.TEAM_QUEUE
            )
            # The installation's catch-all team has no one in the demo: out of the way.
            BuyerTeam.objects.filter(name=DEFAULT_TEAM).update(is_active=False)

    def _away(self, people):
        """One buyer out of office since the requests were filed: her open request is flagged, she gets nothing new."""
        username, days = AWAY
        if not profile_for(people[username]).is_away():
            services.buyer_availability_set(
                buyer=people[username], actor=people["maria"], away_until=timezone.localdate() + timedelta(days=days)
            )

    def _requests(self, people):
        created_count = 0
        now = timezone.now()
        for key, username, title, category, priority, value, currency, confidential, days_ago, script in REQUESTS:
            procurement_request, created = services.procurement_request_submit(
                requester=people[username],
                title=title,
                description=f"{title}.\n\nDemo request: details, quantities and specifications would go here.",
                category=Category.objects.get(name=category),
                priority=priority,
                estimated_value=Decimal(value),
                currency=Currency.objects.get(code=currency),
                is_confidential=confidential,
                submission_token=uuid.uuid5(uuid.NAMESPACE_URL, f"servicedesk-demo/{key}"),
                cost_centre=f"CC-{1000 + len(key) * 7 + int(key[1:])}",
            )
            if not created:
                continue
            created_count += 1
            for verb, actor, extra in script:
                procurement_request.refresh_from_db()
                person = procurement_request.assignee if actor == ASSIGNEE else people[actor]
                if verb == "reply":
                    services.comment_add(procurement_request=procurement_request, author=person, **extra)
                    continue
                arguments = {k: people[v] if k == "assignee" else v for k, v in extra.items()}
                getattr(services, f"procurement_request_{verb}")(
                    procurement_request=procurement_request, actor=person, **arguments
                )
            self._backdate(procurement_request, now, days_ago, steps=len(script))
            # The clocks ran at seeding time; replay the backdated history so they tell its story.
            sla_clocks_rebuild(procurement_request=procurement_request, rewrite_timeline=True)
        return created_count

    def _backdate(self, procurement_request, now, days_ago, *, steps):
        """Spread the demo request's history over the past days so ages and timelines look real."""
        start = now - timedelta(days=days_ago)
        ProcurementRequest.objects.filter(pk=procurement_request.pk).update(created_at=start, updated_at=start)
        events = list(
            RequestEvent.objects.filter(procurement_request=procurement_request)
            .exclude(kind=EventKind.SLA)  # rewritten by the clock replay below
            .order_by("id")
        )
        span = timedelta(days=days_ago)
        moments = [start + span * (index / len(events)) ** 2 for index in range(len(events))]  # early steps come fast
        for index, event in enumerate(events):
            if index and event.kind == EventKind.ROUTED and event.actor_id is None:
                moments[index] = moments[index - 1]  # routing happens with the submission or approval
        for event, moment in zip(events, moments, strict=True):
            RequestEvent.objects.filter(pk=event.pk).update(created_at=moment)
            if event.comment_id:
                Comment.objects.filter(pk=event.comment_id).update(created_at=moment)
        completed = ProcurementRequest.objects.filter(pk=procurement_request.pk, completed_at__isnull=False)
        completed.update(completed_at=moments[-1])
