import csv

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import View

from requests_app.forms import apply_service_errors
from requests_app.models import Category, Priority
from requests_app.permissions import headed_department_ids, is_manager
from requests_app.queue import csv_safe
from stakeholders.models import Department

from . import catalogue as sla_catalogue
from . import dashboard, snapshots
from .calendars import business_calendar_holidays_import, business_calendar_version_add
from .forms import (
    CalendarHoursForm,
    DashboardFilterForm,
    HolidayImportPageForm,
    SlaGoalPageFormSet,
    SlaPolicyForm,
)
from .models import BusinessCalendar, Metric, SlaGoal, SlaPolicy
from .policies import sla_goal_for, sla_policy_make_default, sla_policy_save
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


class ManagerRequiredMixin(LoginRequiredMixin):
    """Procurement managers only; others get 403 (the page exists, it is just not theirs)."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if not is_manager(request.user):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)


class SlaSettingsView(ManagerRequiredMixin, View):
    """Policies and calendars as managers maintain them, with links to change each."""

    def get(self, request):
        policies = list(
            SlaPolicy.objects.prefetch_related(
                Prefetch(
                    "goals",
                    queryset=SlaGoal.objects.select_related("category", "department", "calendar").order_by(
                        "position", "id"
                    ),
                )
            ).order_by("position", "name")
        )
        calendars = BusinessCalendar.objects.with_versions().order_by("name")
        day_seconds = {calendar.pk: sla_catalogue.business_day_seconds(calendar.current_spec) for calendar in calendars}
        for policy in policies:
            for goal in policy.goals.all():
                per_day = day_seconds.get(goal.calendar_id) or sla_catalogue.business_day_seconds(
                    goal.calendar.current_spec
                )
                goal.first_response_words = sla_catalogue.target_words(goal.first_response_minutes * 60, per_day)
                goal.resolution_words = sla_catalogue.target_words(goal.resolution_minutes * 60, per_day)
        calendar_rows = [
            {
                "calendar": calendar,
                "hours": sla_catalogue.working_hours_text(calendar.current_spec),
                "timezone": calendar.current_spec.get("timezone"),
                "holidays": sla_catalogue.upcoming_holidays(calendar.current_spec),
                "versions": sorted(calendar.versions.all(), key=lambda v: v.effective_from, reverse=True)[:5],
            }
            for calendar in calendars
        ]
        return render(request, "slas/settings.html", {"policies": policies, "calendars": calendar_rows})


class SlaPolicyEditView(ManagerRequiredMixin, View):
    """Create or change a policy and its goals in one form; an unsound policy is refused with reasons."""

    template_name = "slas/policy_form.html"

    def _policy(self, pk):
        return get_object_or_404(SlaPolicy, pk=pk) if pk is not None else SlaPolicy()

    def get(self, request, pk=None):
        policy = self._policy(pk)
        return self._render(request, policy, SlaPolicyForm(instance=policy), SlaGoalPageFormSet(instance=policy))

    def post(self, request, pk=None):
        policy = self._policy(pk)
        form = SlaPolicyForm(request.POST, instance=policy)
        goals = SlaGoalPageFormSet(request.POST, instance=form.instance)
        if form.is_valid() and goals.is_valid():
            try:
                saved = sla_policy_save(
                    policy=form.instance, goals=goals.kept_goals(), removed=goals.removed_goals(), actor=request.user
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, f"“{saved.name}” saved. New requests get its goals from now on.")
                return redirect(f"{reverse('slas:settings')}#policy-{saved.pk}")
        return self._render(request, policy, form, goals, status=400)

    def _render(self, request, policy, form, goals, status=200):
        context = {"policy": policy, "form": form, "goals": goals}
        return render(request, self.template_name, context, status=status)


class SlaPolicyMakeDefaultView(ManagerRequiredMixin, View):
    def post(self, request, pk):
        policy = get_object_or_404(SlaPolicy, pk=pk)
        try:
            sla_policy_make_default(policy=policy)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, f"“{policy.name}” is now the default policy.")
        return redirect(f"{reverse('slas:settings')}#policy-{policy.pk}")


class CalendarFormView(ManagerRequiredMixin, View):
    """One form about one calendar: a new version (working hours), or a holiday import."""

    form_class = None
    title = ""
    intro = ""
    submit_label = ""

    def get(self, request, pk):
        calendar = get_object_or_404(BusinessCalendar.objects.with_versions(), pk=pk)
        return self._render(request, calendar, self.form_class(initial=self.initial(calendar)))

    def post(self, request, pk):
        calendar = get_object_or_404(BusinessCalendar.objects.with_versions(), pk=pk)
        form = self.form_class(request.POST)
        if form.is_valid():
            try:
                message = self.save(calendar, form.cleaned_data, request.user)
            except ValidationError as error:
                apply_service_errors(form, error)
            else:
                messages.success(request, message)
                return redirect(f"{reverse('slas:settings')}#calendar-{calendar.pk}")
        return self._render(request, calendar, form, status=400)

    def initial(self, calendar):
        return {}

    def _render(self, request, calendar, form, status=200):
        context = {
            "calendar": calendar,
            "form": form,
            "title": self.title,
            "intro": self.intro,
            "submit_label": self.submit_label,
        }
        return render(request, "slas/calendar_form.html", context, status=status)


class CalendarVersionAddView(CalendarFormView):
    form_class = CalendarHoursForm
    title = "Change working hours"
    intro = (
        "A change is a new version of the calendar in force from the moment you choose (now or later). "
        "Time already counted is never rewritten: running clocks count under the new hours from then on."
    )
    submit_label = "Add version"

    def initial(self, calendar):
        return CalendarHoursForm.initial_from_spec(calendar.current_spec)

    def save(self, calendar, data, actor):
        version = business_calendar_version_add(
            calendar=calendar, spec=data["spec"], effective_from=data["effective_from"], note=data["note"], actor=actor
        )
        return f"{calendar.name}: new hours in force from {timezone.localtime(version.effective_from):%d %b %Y %H:%M}."


class CalendarHolidaysImportView(CalendarFormView):
    form_class = HolidayImportPageForm
    title = "Import public holidays"
    intro = "Public holidays for a country or region, from the holidays package, added as a new version."
    submit_label = "Import"

    def initial(self, calendar):
        year = timezone.localdate().year
        return {"country": "DE", "subdivision": "BY", "years": f"{year}, {year + 1}"}

    def save(self, calendar, data, actor):
        _version, added = business_calendar_holidays_import(
            calendar=calendar,
            country=data["country"],
            subdivision=data["subdivision"],
            years=data["years"],
            categories=data["categories"],
            effective_from=data["effective_from"],
            actor=actor,
        )
        if not added:
            return f"{calendar.name} already had every one of these holidays; nothing changed."
        return f"{calendar.name}: {added} holiday(s) added."


class SlaDashboardView(ManagerRequiredMixin, View):
    """The procurement managers' dashboard: attainment, risk and workload for a period, every figure a
    link to the queue that lists it. The filters live in the URL, so a view can be shared. A department
    head is sent to their department's scorecard instead."""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not is_manager(request.user):
            headed = sorted(headed_department_ids(request.user))
            if headed:
                code = Department.objects.filter(pk=headed[0]).values_list("code", flat=True).first()
                return redirect("stakeholders:scorecard", code=code)
        return super().dispatch(request, *args, **kwargs)

    def get(self, request):
        form = DashboardFilterForm(request.GET or None)
        scope = form.scope()
        snapshot = snapshots.manager_snapshot(scope)
        figures = dashboard.manager_dashboard(
            scope, snapshot=snapshot, fairness_snapshot=None if snapshot else snapshots.fairness_snapshot(scope)
        )
        context = {
            "form": form,
            "dashboard": figures,
            "csat": dashboard.csat_in_scope(scope),
            "dimensions": dashboard.DIMENSIONS,
            "querystring": request.GET.urlencode(),
        }
        return render(request, "slas/dashboard.html", context)


class SlaDashboardFairnessEvidenceView(ManagerRequiredMixin, View):
    """One department's fairness evidence (each category × priority beside the others), with the
    dashboard's filters: fetched by htmx when its row is opened, or a page of its own without script."""

    def get(self, request, department_id):
        form = DashboardFilterForm(request.GET or None)
        scope = form.scope()
        # The evidence behind the row the dashboard showed: from the same snapshot when the dashboard had one.
        snapshot = snapshots.manager_snapshot(scope) or snapshots.fairness_snapshot(scope)
        fairness = snapshot.figures.fairness if snapshot else dashboard.fairness(scope)
        rows = {row.department_id: row for row in fairness.rows}
        if department_id not in rows:
            raise Http404("No completed requests of this department in the period.")
        context = {
            "row": rows[department_id],
            "fairness_period": scope.period,
            "querystring": request.GET.urlencode(),
            "as_of": snapshot.computed_at if snapshot else None,
        }
        template = "slas/_partials/fairness_evidence.html" if request.htmx else "slas/fairness_evidence.html"
        return render(request, template, context)


class SlaDashboardExportView(ManagerRequiredMixin, View):
    """One breakdown table of the dashboard, with the same filters, as CSV."""

    def get(self, request, dimension):
        if dimension not in dashboard.DIMENSIONS:
            raise Http404("No such breakdown.")
        scope = DashboardFilterForm(request.GET or None).scope()
        rows = dashboard.breakdown(scope, dimension)
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        period = scope.period
        filename = f"sla-{dimension}-{period.first_day:%Y-%m-%d}-{period.last_day:%Y-%m-%d}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response.write("\ufeff")  # a byte-order mark, so that spreadsheet programs read UTF-8
        writer = csv.writer(response)
        writer.writerow([dashboard.DIMENSIONS[dimension].label, *dashboard.BREAKDOWN_CSV_HEADER])
        for row in rows:
            writer.writerow([csv_safe(value) for value in row.csv()])
        return response
