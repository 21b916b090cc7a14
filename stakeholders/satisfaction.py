"""Reads for request satisfaction (CSAT): the figures, for any slice of surveys, in one aggregate query.

Meant for every page that shows satisfaction (the request page, a buyer's settings, the department
page, and the dashboards): pass a queryset of `SatisfactionSurvey` — `for_buyer`, `for_department`,
or your own filter — to `csat_figures`.

- **average**: the mean rating of the answered surveys (None when nobody answered);
- **response rate**: answered / sent (None when none was sent);
- **distribution**: how many answers gave each rating, 1 to 5.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Avg, Count, Q
from django.utils import timezone

from .models import RELATIONSHIP_QUESTIONS, RelationshipSurvey, SatisfactionSurvey, SurveyFollowUp

RATING_VALUES = (1, 2, 3, 4, 5)
DEFAULT_WINDOW_DAYS = 365


@dataclass(frozen=True)
class CsatFigures:
    sent: int
    answered: int
    average: float | None
    distribution: dict = field(default_factory=dict)  # {rating: answers}

    @property
    def response_rate(self):
        """The share of surveys answered, 0–1 (None when none was sent)."""
        return self.answered / self.sent if self.sent else None

    @property
    def response_percent(self):
        return round(100 * self.response_rate) if self.sent else None

    @property
    def bars(self):
        """[(rating, answers, percent of answers)] from 5 down to 1, for a small bar chart."""
        return [
            (
                rating,
                self.distribution[rating],
                round(100 * self.distribution[rating] / self.answered) if self.answered else 0,
            )
            for rating in reversed(RATING_VALUES)
        ]


def _csat_aggregates():
    return {
        "sent": Count("pk"),
        "answered": Count("pk", filter=Q(rating__isnull=False)),
        "average": Avg("rating"),
        **{f"rated_{rating}": Count("pk", filter=Q(rating=rating)) for rating in RATING_VALUES},
    }


def csat_figures(surveys) -> CsatFigures:
    """Average, response rate and distribution of these surveys, in one aggregate query."""
    return _figures(surveys.order_by().aggregate(**_csat_aggregates()))


def csat_by_department(surveys) -> dict:
    """{department id: CsatFigures} of these surveys, for every department among them, in one query."""
    rows = surveys.order_by().values("department_id").annotate(**_csat_aggregates())
    return {row["department_id"]: _figures(row) for row in rows}


def _figures(row):
    average = row["average"]
    return CsatFigures(
        sent=row["sent"],
        answered=row["answered"],
        average=round(float(average), 2) if average is not None else None,
        distribution={rating: row[f"rated_{rating}"] for rating in RATING_VALUES},
    )


def since_default(now=None):
    return (now or timezone.now()) - timedelta(days=DEFAULT_WINDOW_DAYS)


def for_buyer(user, *, since=None):
    """The surveys of the requests this buyer completed (the buyer at completion), sent since `since`."""
    return SatisfactionSurvey.objects.filter(buyer_id=user.pk, sent_at__gte=since or since_default())


def for_department(department, *, since=None):
    """The surveys of this department's requests, sent since `since`."""
    return SatisfactionSurvey.objects.filter(department_id=department.pk, sent_at__gte=since or since_default())


def request_survey(procurement_request):
    """The request's survey with its follow-up (and who closed it), or None: one query."""
    return (
        SatisfactionSurvey.objects.filter(procurement_request_id=procurement_request.pk)
        .select_related("follow_up__closed_by", "follow_up__owner")
        .first()
    )


def open_follow_ups(user, *, limit=20):
    """The user's open follow-ups, the earliest due first, with what the queue card shows."""
    return list(
        SurveyFollowUp.objects.open()
        .owned_by(user)
        .select_related("survey__procurement_request", "survey__requester")
        .order_by("due_at", "pk")[:limit]
    )


def recent_answers(surveys, *, limit=5):
    """The latest answers with a comment, for a page that shows what people said."""
    return list(
        surveys.answered()
        .exclude(comment="")
        .select_related("procurement_request", "requester")
        .order_by("-answered_at", "-pk")[:limit]
    )


# --- The periodic relationship survey ----------------------------------------------------------------

TREND_ROUNDS = 6


@dataclass(frozen=True)
class RelationshipRound:
    survey: object
    answers: int
    averages: list  # [(question text, average or None)] in RELATIONSHIP_QUESTIONS order
    overall: float | None


def relationship_trend(department, *, rounds=TREND_ROUNDS):
    """The department's latest relationship survey rounds, oldest first, each with its number of answers
    and the average per question: one aggregate query."""
    per_question = {f"avg_{name}": Avg(f"answers__{name}") for name, _ in RELATIONSHIP_QUESTIONS}
    latest = list(
        RelationshipSurvey.objects.filter(department_id=department.pk)
        .annotate(answer_count=Count("answers"), **per_question)
        .order_by("-opened_on", "-pk")[:rounds]
    )
    trend = []
    for survey in reversed(latest):
        averages = [(text, _rounded(getattr(survey, f"avg_{name}"))) for name, text in RELATIONSHIP_QUESTIONS]
        known = [value for _, value in averages if value is not None]
        overall = round(sum(known) / len(known), 2) if known else None
        trend.append(RelationshipRound(survey, survey.answer_count, averages, overall))
    return trend


def _rounded(value):
    return round(float(value), 2) if value is not None else None
