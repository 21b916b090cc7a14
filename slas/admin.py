import functools

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Max
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template import engines
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from requests_app.admin import ReadOnlyInline, ViewOnlyAdmin

from .calendars import business_calendar_create, business_calendar_holidays_import, business_calendar_version_add
from .catalogue import working_hours_text
from .escalation import default_ladder
from .forms import (
    GOAL_FIELDS,
    BusinessCalendarCreateForm,
    BusinessCalendarVersionForm,
    HolidayImportForm,
    PrettyJSONField,
    SlaGoalFormSet,
)
from .models import (
    BusinessCalendar,
    BusinessCalendarVersion,
    EscalationEvent,
    EscalationStep,
    Reminder,
    SlaClock,
    SlaGoal,
    SlaPause,
    SlaPolicy,
)
from .policies import sla_policy_make_default

# The page for the calendar's two actions (add a version, import holidays): the admin's look, one form.
# Kept here rather than in templates/ because nothing else uses it; compiled on first use.
FORM_PAGE = """{% extends "admin/base_site.html" %}{% load admin_urls %}
{% block extrahead %}{{ block.super }}<script src="{% url 'admin:jsi18n' %}"></script>{{ media }}{% endblock %}
{% block breadcrumbs %}<div class="breadcrumbs"><a href="{% url 'admin:index' %}">Home</a>
 › <a href="{% url 'admin:app_list' app_label=opts.app_label %}">{{ opts.app_config.verbose_name }}</a>
 › <a href="{% url opts|admin_urlname:'changelist' %}">{{ opts.verbose_name_plural|capfirst }}</a>
 › <a href="{% url opts|admin_urlname:'change' original.pk %}">{{ original }}</a> › {{ title }}</div>{% endblock %}
{% block content %}<div id="content-main">
<p>{{ intro }}</p>
<form method="post" novalidate>{% csrf_token %}
{% if form.non_field_errors %}{{ form.non_field_errors }}{% endif %}
<fieldset class="module aligned">{% for field in form %}
<div class="form-row{% if field.errors %} errors{% endif %} field-{{ field.name }}">{{ field.errors }}
<div class="flex-container">{{ field.label_tag }} {{ field }}</div>
{% if field.help_text %}<div class="help">{{ field.help_text }}</div>{% endif %}</div>{% endfor %}
</fieldset>
<div class="submit-row"><input type="submit" class="default" value="{{ submit_label }}"></div>
</form></div>{% endblock %}"""


@functools.cache
def form_page_template():
    return engines["django"].from_string(FORM_PAGE)


def spec_summary(spec):
    """'Europe/Berlin · Mon–Fri 08:00–12:00, 13:00–17:00 · 26 holidays · 4 exceptions'."""
    days = working_hours_text(spec)
    parts = [spec.get("timezone", "?"), "; ".join(days) or "closed every week"]
    parts.append(f"{len(spec.get('holidays', []))} holidays")
    parts.append(f"{len(spec.get('exceptions', {}))} exceptions")
    return " · ".join(parts)


class BusinessCalendarVersionInline(ReadOnlyInline):
    """History: existing versions are never edited (clocks counted time under them); add one instead."""

    model = BusinessCalendarVersion
    fields = ["effective_from", "summary", "note", "created_by", "created_at"]
    readonly_fields = fields
    ordering = ["effective_from"]
    show_change_link = True

    @admin.display(description="Calendar")
    def summary(self, version):
        return spec_summary(version.spec)


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active", "version_count", "latest_version_from"]
    list_filter = ["is_active"]
    search_fields = ["name", "description"]
    readonly_fields = ["calendar_tools"]
    actions = ["import_holidays_action"]
    add_form = BusinessCalendarCreateForm

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(_version_count=Count("versions"), _latest_from=Max("versions__effective_from"))
        )

    @admin.display(description="Versions", ordering="_version_count")
    def version_count(self, calendar):
        return calendar._version_count

    @admin.display(description="Latest version from", ordering="_latest_from")
    def latest_version_from(self, calendar):
        return calendar._latest_from

    @admin.display(description="Change the calendar")
    def calendar_tools(self, calendar):
        if calendar.pk is None:
            return "-"
        links = [
            (reverse("admin:slas_businesscalendar_add_version", args=[calendar.pk]), "Add a version"),
            (reverse("admin:slas_businesscalendar_import_holidays", args=[calendar.pk]), "Import public holidays"),
        ]
        return format_html_join(" · ", '<a href="{}">{}</a>', links)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["name", "description", "is_active", "spec", "note"]})]
        return [(None, {"fields": ["name", "description", "is_active", "calendar_tools"]})]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, **kwargs)

    inlines = [BusinessCalendarVersionInline]

    def get_inline_instances(self, request, obj=None):
        # Django's own method applies the inline's permissions (no "add another" row); a new
        # calendar gets its first version from the add form instead.
        return super().get_inline_instances(request, obj) if obj is not None else []

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)  # name, description, is_active: no history
            return
        # A new calendar comes with its first version, through the service.
        calendar = business_calendar_create(
            name=obj.name,
            description=obj.description,
            is_active=obj.is_active,
            spec=form.cleaned_data["spec"],
            note=form.cleaned_data["note"],
            actor=request.user,
        )
        obj.pk, obj._state.adding, obj._state.db = calendar.pk, False, calendar._state.db

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/add-version/", view(self.add_version_view), name="slas_businesscalendar_add_version"
            ),
            path(
                "<path:object_id>/import-holidays/",
                view(self.import_holidays_view),
                name="slas_businesscalendar_import_holidays",
            ),
            *super().get_urls(),
        ]

    @admin.action(description="Import public holidays into the selected calendar")
    def import_holidays_action(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Choose exactly one calendar to import holidays into.", messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("admin:slas_businesscalendar_import_holidays", args=[queryset.get().pk]))

    def _calendar_for_change(self, request, object_id):
        calendar = self.get_object(request, unquote(object_id))
        if calendar is None:
            raise Http404("No such calendar.")
        if not self.has_change_permission(request, calendar):
            raise PermissionDenied
        return calendar

    def _form_page(self, request, calendar, form, *, title, intro, submit_label):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": calendar,
            "title": title,
            "intro": intro,
            "form": form,
            "media": self.media + form.media,
            "submit_label": submit_label,
        }
        return HttpResponse(form_page_template().render(context, request))

    def _back_to(self, calendar):
        return HttpResponseRedirect(reverse("admin:slas_businesscalendar_change", args=[calendar.pk]))

    def add_version_view(self, request, object_id):
        calendar = self._calendar_for_change(request, object_id)
        current = calendar.current_version
        form = BusinessCalendarVersionForm(request.POST or None, initial={"spec": current.spec if current else None})
        if request.method == "POST" and form.is_valid():
            try:
                version = business_calendar_version_add(
                    calendar=calendar,
                    spec=form.cleaned_data["spec"],
                    effective_from=form.cleaned_data["effective_from"],
                    note=form.cleaned_data["note"],
                    actor=request.user,
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                self.log_change(request, calendar, f"Added a version: {version.note}")
                self.message_user(
                    request,
                    f"Added a version of “{calendar}” in force from "
                    f"{timezone.localtime(version.effective_from):%Y-%m-%d %H:%M}.",
                    messages.SUCCESS,
                )
                return self._back_to(calendar)
        return self._form_page(
            request,
            calendar,
            form,
            title="Add a calendar version",
            intro="The new version applies from the moment given (or now) on; earlier time stays as it was counted.",
            submit_label="Add version",
        )

    def import_holidays_view(self, request, object_id):
        calendar = self._calendar_for_change(request, object_id)
        year = timezone.localdate().year
        form = HolidayImportForm(request.POST or None, initial={"years": f"{year}, {year + 1}"})
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                version, added = business_calendar_holidays_import(
                    calendar=calendar,
                    country=data["country"],
                    subdivision=data["subdivision"] or None,
                    years=data["years"],
                    categories=data["categories"],
                    effective_from=data["effective_from"],
                    actor=request.user,
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                if added:
                    self.log_change(request, calendar, version.note)
                    self.message_user(
                        request,
                        f"{version.note} They apply from {timezone.localtime(version.effective_from):%Y-%m-%d %H:%M}.",
                        messages.SUCCESS,
                    )
                else:
                    self.message_user(
                        request, "Nothing to add: the calendar already has all of those holidays.", messages.INFO
                    )
                return self._back_to(calendar)
        return self._form_page(
            request,
            calendar,
            form,
            title="Import public holidays",
            intro=(
                "Adds a version with the current holidays plus the chosen country's public holidays, "
                "from the holidays package."
            ),
            submit_label="Import",
        )


@admin.register(BusinessCalendarVersion)
class BusinessCalendarVersionAdmin(ViewOnlyAdmin):
    list_display = ["calendar", "effective_from", "note", "created_by", "created_at"]
    list_filter = ["calendar"]
    list_select_related = ["calendar", "created_by"]
    search_fields = ["calendar__name", "note"]
    fields = ["calendar", "effective_from", "summary", "spec_pretty", "note", "created_by", "created_at"]
    readonly_fields = fields

    @admin.display(description="Calendar")
    def summary(self, version):
        return spec_summary(version.spec)

    @admin.display(description="Spec")
    def spec_pretty(self, version):
        return format_html("<pre>{}</pre>", PrettyJSONField().prepare_value(version.spec))


class SlaGoalInline(admin.TabularInline):
    model = SlaGoal
    formset = SlaGoalFormSet
    extra = 0
    fields = GOAL_FIELDS
    ordering = ["position", "id"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "calendar":
            kwargs["queryset"] = BusinessCalendar.objects.active()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class EscalationStepInline(admin.TabularInline):
    """The policy's escalation ladder; with no rows, the default ladder applies (shown above the goals)."""

    model = EscalationStep
    extra = 0
    fields = [
        "kind",
        "value",
        "metric",
        "notify_assignee",
        "notify_buyers",
        "notify_team_lead",
        "notify_managers",
        "notify_department_head",
        "notify_requester",
        "in_app",
        "by_email",
    ]
    verbose_name_plural = "escalation ladder (no rows: the default ladder applies)"


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    list_display = ["name", "position", "is_default", "is_active", "goal_count"]
    list_filter = ["is_active", "is_default"]
    search_fields = ["name", "description"]
    # Changing the default is one step (the action below), so there is never a moment without one.
    readonly_fields = ["is_default", "ladder_in_force"]
    actions = ["make_default_action"]
    inlines = [SlaGoalInline, EscalationStepInline]

    @admin.display(description="Escalation ladder in force")
    def ladder_in_force(self, policy):
        steps = list(policy.escalation_steps.all()) if policy.pk else []
        rows = [
            (step.when_text, step.recipients_text or "nobody", _channels(step)) for step in steps or default_ladder()
        ]
        caption = "" if steps else "The default ladder (add steps below to replace it):"
        return format_html("{}<ul>{}</ul>", caption, format_html_join("", "<li>{}: {} ({})</li>", rows))

    @admin.action(description="Make the selected policy the default")
    def make_default_action(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Choose exactly one policy to make the default.", messages.WARNING)
            return
        try:
            policy = sla_policy_make_default(policy=queryset.get())
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
            return
        self.log_change(request, policy, "Made the default policy.")
        self.message_user(request, f"“{policy}” is now the default policy.", messages.SUCCESS)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_goal_count=Count("goals"))

    @admin.display(description="Goals", ordering="_goal_count")
    def goal_count(self, policy):
        return policy._goal_count

    def get_actions(self, request):
        # Bulk deletion could remove the default policy; delete policies one by one instead.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request, obj=None):
        # Without a default policy no request gets a goal: make another the default first.
        if obj is not None and obj.is_default:
            return False
        return super().has_delete_permission(request, obj)


def _channels(step):
    return (
        " and ".join(way for way, on in (("in the app", step.in_app), ("e-mail", step.by_email)) if on) or "no channel"
    )


@admin.register(EscalationEvent)
class EscalationEventAdmin(ViewOnlyAdmin):
    list_display = ["procurement_request", "subject", "cycle", "threshold", "collapsed_into", "created_at"]
    list_filter = ["subject"]
    search_fields = ["procurement_request__reference"]
    list_select_related = ["procurement_request", "collapsed_into"]
    date_hierarchy = "created_at"


@admin.register(Reminder)
class ReminderAdmin(ViewOnlyAdmin):
    list_display = ["procurement_request", "subject", "started_at", "last_step", "next_step", "next_at", "stopped_at"]
    list_filter = ["subject"]
    search_fields = ["procurement_request__reference"]
    list_select_related = ["procurement_request"]


class SlaPauseInline(ReadOnlyInline):
    model = SlaPause
    fields = ["started_at", "ended_at", "reason", "created_at"]
    readonly_fields = fields


@admin.register(SlaClock)
class SlaClockAdmin(ViewOnlyAdmin):
    list_display = [
        "procurement_request",
        "metric",
        "cycle",
        "is_current",
        "started_at",
        "due_at",
        "elapsed_business",
        "goal_seconds",
        "breached",
        "ever_breached",
        "met",
    ]
    list_filter = ["metric", "breached", "ever_breached", "met", "is_current"]
    search_fields = ["procurement_request__reference"]
    list_select_related = ["procurement_request"]
    date_hierarchy = "started_at"
    inlines = [SlaPauseInline]
    fields = [
        ("procurement_request", "metric", "cycle", "is_current"),
        ("goal", "goal_seconds", "calendar"),
        ("started_at", "stopped_at", "paused_since"),
        ("elapsed_business", "computed_at"),
        ("due_at", "next_threshold", "next_threshold_at"),
        ("breached", "ever_breached", "breached_at", "met"),
        ("created_at", "updated_at"),
    ]
    readonly_fields = [name for row in fields for name in row]
