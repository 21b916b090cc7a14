from django.contrib.auth.mixins import LoginRequiredMixin
from django.shortcuts import render
from django.views import View

from requests_app.models import Category, Priority

from . import catalogue as sla_catalogue
from .models import Metric
from .policies import sla_goal_for
from .services import business_duration


class CatalogueView(LoginRequiredMixin, View):
    """The published SLA catalogue: every logged-in user may read what Procurement promises."""

    def get(self, request):
        policies, calendars = sla_catalogue.catalogue()
        calendar_rows = [
            {
                "calendar": calendar,
                "hours": sla_catalogue.working_hours_text(calendar.current_spec),
                "timezone": calendar.current_spec.get("timezone"),
                "holidays": sla_catalogue.upcoming_holidays(calendar.current_spec),
            }
            for calendar in calendars
        ]
        return render(
            request,
            "slas/catalogue.html",
            {
                "policies": policies,
                "calendars": calendar_rows,
                "benchmark_days": sla_catalogue.BENCHMARK_DAYS,
                "metrics": [Metric.FIRST_RESPONSE, Metric.RESOLUTION],
            },
        )


class PromiseView(LoginRequiredMixin, View):
    """htmx fragment for the new-request form: the targets for the chosen category and priority."""

    def get(self, request):
        try:
            category = Category.objects.active().filter(pk=int(request.GET.get("category", ""))).first()
        except ValueError:  # missing or not a number (a hand-edited URL): show the hint, not a 500
            category = None
        priority = request.GET.get("priority")
        if category is None or priority not in Priority.values:
            return render(request, "slas/_partials/promise.html", {"goal": None})
        department_id = getattr(getattr(request.user, "membership", None), "department_id", None)
        goal = sla_goal_for(category_id=category.pk, priority=priority, department_id=department_id)
        day_seconds = sla_catalogue.business_day_seconds(goal.calendar.current_spec)
        benchmark = sla_catalogue.category_benchmark(category_id=category.pk)
        return render(
            request,
            "slas/_partials/promise.html",
            {
                "goal": goal,
                "category": category,
                "first_response": sla_catalogue.target_words(goal.first_response_minutes * 60, day_seconds),
                "resolution": sla_catalogue.target_words(goal.resolution_minutes * 60, day_seconds),
                "benchmark": benchmark,
                "business_duration": business_duration,
            },
        )
