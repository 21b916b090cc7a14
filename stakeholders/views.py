"""What people see of themselves: their settings, the bell, the notification list, e-mail preferences."""

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.generic import ListView

from requests_app.forms import apply_service_errors
from requests_app.permissions import can_view_scorecard, is_procurement_staff
from slas import dashboard, snapshots
from slas.forms import DashboardFilterForm

from . import relations, satisfaction, selectors, services, surveys
from .forms import (
    ActionItemForm,
    ActionItemStatusForm,
    FollowUpCloseForm,
    MeetingForm,
    MeetingMinutesForm,
    MeetingScheduleForm,
    NotificationPreferencesForm,
    PersonalSettingsForm,
    PublishOutcomesForm,
    RelationshipAnswerForm,
    RelationshipScheduleForm,
    ServiceAgreementForm,
    SurveyForm,
)
from .middleware import session_language_set, session_time_zone_set
from .models import (
    ActionItem,
    ActionItemStatus,
    Department,
    Meeting,
    MeetingSchedule,
    Notification,
    NotificationKind,
    NotificationPreference,
    RelationshipAnswer,
    RelationshipSurvey,
    RelationshipSurveySchedule,
    SatisfactionSurvey,
    ServiceAgreement,
    SurveyFollowUp,
    profile_for,
)
from .permissions import can_close_follow_up, can_manage_relations, can_sign_off, can_update_action_item
from .services import profile_update

BELL_CHANGED = "notificationsChanged"  # htmx event: the bell refreshes its count


class LoginView(auth_views.LoginView):
    """Django's login, which also remembers the person's time zone and language for the session."""

    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        profile = profile_for(form.get_user())
        session_time_zone_set(self.request, profile.time_zone)
        session_language_set(self.request, profile.language)
        return response


class PersonalSettingsView(LoginRequiredMixin, View):
    template_name = "stakeholders/settings.html"

    def get(self, request):
        profile = profile_for(request.user)
        form = PersonalSettingsForm(initial={"language": profile.language, "time_zone": profile.time_zone})
        return render(request, self.template_name, self.context(request, form))

    @staticmethod
    def context(request, form):
        # A buyer's own satisfaction figures (the requests they completed, last 12 months).
        csat = (
            satisfaction.csat_figures(satisfaction.for_buyer(request.user))
            if is_procurement_staff(request.user)
            else None
        )
        return {"form": form, "csat": csat}

    def post(self, request):
        form = PersonalSettingsForm(request.POST)
        if form.is_valid():
            try:
                profile = profile_update(
                    user=request.user,
                    actor=request.user,
                    language=form.cleaned_data["language"],
                    time_zone=form.cleaned_data["time_zone"],
                )
            except ValidationError as error:
                # Beside the field it concerns (the model's validators name it).
                form.add_error(None, error)
            else:
                session_time_zone_set(request, profile.time_zone)
                session_language_set(request, profile.language)
                messages.success(request, f"Times are now shown in {profile.zone.key.replace('_', ' ')}.")
                return redirect("stakeholders:settings")
        return render(request, self.template_name, self.context(request, form), status=400)


def _own_notification_or_404(user, pk):
    # Someone else's notification is a 404, exactly like one that does not exist.
    return get_object_or_404(Notification.objects.in_app_for(user), pk=pk)


class BellView(LoginRequiredMixin, View):
    """htmx fragment: the bell's unread count (loaded after the page, so pages pay no query for it)."""

    def get(self, request):
        unread = Notification.objects.in_app_for(request.user).unread().count()
        # Polled every minute by every open page: rendered without the context processors' queries.
        return HttpResponse(render_to_string("stakeholders/_partials/bell.html", {"unread": unread}))


class NotificationListView(LoginRequiredMixin, ListView):
    template_name = "stakeholders/notification_list.html"
    context_object_name = "notifications"
    paginate_by = 25

    def get_queryset(self):
        notifications = Notification.objects.in_app_for(self.request.user).select_related("procurement_request")
        if self.request.GET.get("unread"):
            notifications = notifications.unread()
        return notifications.only(
            "pk", "kind", "payload", "created_at", "read_at", "procurement_request__reference", "recipient_id"
        )

    def paginate_queryset(self, queryset, page_size):
        paginator = self.get_paginator(queryset, page_size, allow_empty_first_page=True)
        page = paginator.get_page(self.request.GET.get("page"))
        return paginator, page, page.object_list, page.has_other_pages()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["unread_only"] = bool(self.request.GET.get("unread"))
        return context


class NotificationOpenView(LoginRequiredMixin, View):
    """Follow a notification: it is read now, and the request it is about opens."""

    def get(self, request, pk):
        notification = _own_notification_or_404(request.user, pk)
        services.notification_mark_read(notification=notification, user=request.user)
        path = notification.url
        if not path or not url_has_allowed_host_and_scheme(path, allowed_hosts={request.get_host()}):
            return redirect("stakeholders:notifications")
        return redirect(path)


def _back(request, default="stakeholders:notifications"):
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect(default)


class NotificationReadView(LoginRequiredMixin, View):
    """Mark one notification read: htmx swaps its row, a plain POST goes back to the list."""

    def post(self, request, pk):
        notification = _own_notification_or_404(request.user, pk)
        services.notification_mark_read(notification=notification, user=request.user)
        if request.htmx:
            response = render(request, "stakeholders/_partials/notification_item.html", {"notification": notification})
            response["HX-Trigger"] = BELL_CHANGED
            return response
        return _back(request)


class NotificationsReadAllView(LoginRequiredMixin, View):
    def post(self, request):
        count = services.notifications_mark_all_read(user=request.user)
        if request.htmx:
            response = HttpResponse(status=204)
            response["HX-Refresh"] = "true"  # every row changes: reload the list
            return response
        messages.success(request, f"{count} notification{'s' if count != 1 else ''} marked as read.")
        return _back(request)


class PreferencesView(LoginRequiredMixin, View):
    template_name = "stakeholders/preferences.html"

    def get(self, request):
        refused = set(
            NotificationPreference.objects.filter(user=request.user, by_email=False).values_list("kind", flat=True)
        )
        form = NotificationPreferencesForm(
            initial={"email_kinds": [kind for kind in NotificationKind.values if kind not in refused]}
        )
        return render(request, self.template_name, {"form": form})

    def post(self, request):
        form = NotificationPreferencesForm(request.POST)
        if form.is_valid():
            services.notification_preferences_save(user=request.user, email_kinds=form.cleaned_data["email_kinds"])
            messages.success(request, "Your notification preferences are saved.")
            return redirect("stakeholders:preferences")
        return render(request, self.template_name, {"form": form}, status=400)


# --- Internal customer directory ------------------------------------------------------------------


def _department_or_404(user, code):
    # A department the user may not read is a 404, exactly like one that does not exist.
    return get_object_or_404(Department.objects.visible_to(user).select_related("head"), code__iexact=code)


def _meeting_or_404(user, code, pk):
    department = _department_or_404(user, code)
    return get_object_or_404(Meeting.objects.filter(department=department).select_related("department"), pk=pk)


class DirectoryView(LoginRequiredMixin, View):
    template_name = "stakeholders/directory.html"

    def get(self, request):
        departments = list(selectors.directory(user=request.user))
        if len(departments) == 1 and not is_procurement_staff(request.user):
            return redirect("stakeholders:department", code=departments[0].code)
        return render(request, self.template_name, {"departments": departments, "today": timezone.localdate()})


class DepartmentView(LoginRequiredMixin, View):
    template_name = "stakeholders/department.html"

    def get(self, request, code):
        department = _department_or_404(request.user, code)
        page = selectors.department_page(department=department, user=request.user)
        trend = satisfaction.relationship_trend(department)
        today = timezone.localdate()
        open_round = trend[-1].survey if trend and trend[-1].survey.is_open(today) else None
        # Only the department's staff answer (a query only while a round is open).
        can_answer = open_round is not None and request.user in relations.department_staff(department)
        return render(
            request,
            self.template_name,
            {
                "page": page,
                "department": department,
                "csat": satisfaction.csat_figures(satisfaction.for_department(department)),
                "relationship": trend,
                "relationship_schedule": RelationshipSurveySchedule.objects.filter(department=department).first(),
                "open_round": open_round if can_answer else None,
                "can_manage": can_manage_relations(request.user),
                "can_sign_off": can_sign_off(request.user, department),
            },
        )


class ManagerFormPage(LoginRequiredMixin, View):
    """A department's form for procurement managers: GET shows it; POST validates it and calls `perform`,
    whose ValidationError lands beside the field. A department the user may not read is a 404 first."""

    template_name = "stakeholders/relation_form.html"
    form_class = None
    heading = ""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            self.department = _department_or_404(request.user, kwargs["code"])
            if not can_manage_relations(request.user):
                raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def context(self, **extra):
        return {"department": self.department, "heading": self.heading, **extra}

    def get_initial(self):
        return {}

    def get(self, request, **kwargs):
        return render(request, self.template_name, self.context(form=self.form_class(initial=self.get_initial())))

    def post(self, request, **kwargs):
        form = self.form_class(request.POST)
        if form.is_valid():
            try:
                target = self.perform(form.cleaned_data)
            except ValidationError as error:
                apply_service_errors(form, error)
            else:
                return redirect(target)
        return render(request, self.template_name, self.context(form=form), status=400)


class AgreementCreateView(ManagerFormPage):
    form_class = ServiceAgreementForm
    heading = "New version of the service agreement"

    def get_initial(self):
        current = ServiceAgreement.objects.filter(department=self.department).order_by("-version").first()
        if current is None:
            return {"review_on": relations.next_review_default()}
        return {
            "policies": list(current.policies.all()),
            "deviations": current.deviations,
            "notes": current.notes,
            "review_on": current.review_on,
        }

    def perform(self, data):
        agreement = relations.service_agreement_create(department=self.department, actor=self.request.user, **data)
        messages.success(self.request, f"Version {agreement.version} of the agreement is recorded.")
        return relations.department_url(self.department) + "#agreement"


class AgreementSignOffView(LoginRequiredMixin, View):
    def post(self, request, code, version):
        department = _department_or_404(request.user, code)
        agreement = get_object_or_404(ServiceAgreement, department=department, version=version)
        if not can_sign_off(request.user, department):
            raise PermissionDenied
        try:
            relations.service_agreement_sign_off(agreement=agreement, actor=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, f"You signed off version {agreement.version} of the agreement.")
        return redirect(relations.department_url(department) + "#agreement")


class ScheduleView(ManagerFormPage):
    form_class = MeetingScheduleForm
    heading = "Meeting schedule"

    def get_initial(self):
        schedule = MeetingSchedule.objects.filter(department=self.department).first()
        if schedule is None:
            return {"every_months": 3, "title": "Quarterly service review"}
        return {"every_months": schedule.every_months, "title": schedule.title}

    def perform(self, data):
        relations.meeting_schedule_set(department=self.department, actor=self.request.user, **data)
        messages.success(self.request, "The meeting schedule is saved.")
        return relations.department_url(self.department) + "#meetings"


class MeetingCreateView(ManagerFormPage):
    form_class = MeetingForm
    heading = "Plan a stakeholder meeting"

    def get_initial(self):
        schedule = MeetingSchedule.objects.filter(department=self.department).first()
        return {"title": schedule.title if schedule else "Service review"}

    def perform(self, data):
        meeting = relations.meeting_plan(department=self.department, actor=self.request.user, **data)
        messages.success(self.request, "The meeting is planned.")
        return _meeting_url(meeting)


def _meeting_url(meeting):
    return reverse("stakeholders:meeting", kwargs={"code": meeting.department.code, "pk": meeting.pk})


class MeetingView(LoginRequiredMixin, View):
    """The meeting: agenda, minutes, decisions, action items; managers edit and publish it here."""

    template_name = "stakeholders/meeting.html"

    def get(self, request, code, pk):
        meeting = _meeting_or_404(request.user, code, pk)
        return self.page(request, meeting)

    def page(self, request, meeting, status=200, **forms):
        meeting = selectors.meeting_detail(meeting)
        can_manage = can_manage_relations(request.user)
        context = {"meeting": meeting, "department": meeting.department, "can_manage": can_manage}
        if can_manage:
            context["minutes_form"] = forms.get("minutes_form") or MeetingMinutesForm(
                initial={
                    "title": meeting.title,
                    "starts_at": meeting.starts_at,
                    "attendees": list(meeting.attendees.all()),
                    "agenda": meeting.agenda,
                    "minutes": meeting.minutes,
                    "decisions": meeting.decisions,
                },
                prefix="minutes",
            )
            context["item_form"] = forms.get("item_form") or ActionItemForm(prefix="item")
            context["publish_form"] = forms.get("publish_form") or PublishOutcomesForm(
                initial={"summary": meeting.summary}, prefix="publish"
            )
        context["today"] = timezone.localdate()
        return render(request, self.template_name, context, status=status)


class MeetingActionView(LoginRequiredMixin, View):
    """One URL per action on a meeting: save the minutes, add an action item, publish the outcomes.
    A meeting the user may not read is a 404 before anything else, as for every object."""

    form_class = None
    prefix = ""

    def post(self, request, code, pk):
        meeting = _meeting_or_404(request.user, code, pk)
        if not can_manage_relations(request.user):
            raise PermissionDenied
        form = self.form_class(request.POST, prefix=self.prefix)
        if form.is_valid():
            try:
                self.perform(meeting, form.cleaned_data)
            except ValidationError as error:
                apply_service_errors(form, error)
            else:
                return redirect(_meeting_url(meeting) + self.anchor)
        return MeetingView().page(request, meeting, status=400, **{f"{self.prefix}_form": form})


class MeetingMinutesView(MeetingActionView):
    form_class, prefix, anchor = MeetingMinutesForm, "minutes", "#minutes"

    def perform(self, meeting, data):
        relations.meeting_update(meeting=meeting, actor=self.request.user, **data)
        messages.success(self.request, "The meeting is saved.")


class ActionItemCreateView(MeetingActionView):
    form_class, prefix, anchor = ActionItemForm, "item", "#action-items"

    def perform(self, meeting, data):
        item = relations.action_item_add(meeting=meeting, actor=self.request.user, **data)
        messages.success(self.request, f"Action item added for {item.owner.get_full_name() or item.owner}.")


class PublishOutcomesView(MeetingActionView):
    form_class, prefix, anchor = PublishOutcomesForm, "publish", "#outcomes"

    def perform(self, meeting, data):
        relations.meeting_outcomes_publish(meeting=meeting, actor=self.request.user, summary=data["summary"])
        messages.success(self.request, "Outcomes published: the department's staff are told.")


class ActionItemStatusView(LoginRequiredMixin, View):
    def post(self, request, code, pk):
        department = _department_or_404(request.user, code)
        item = get_object_or_404(
            ActionItem.objects.select_related("meeting__department"), pk=pk, meeting__department=department
        )
        if not can_update_action_item(request.user, item):
            raise PermissionDenied
        form = ActionItemStatusForm(request.POST)
        if not form.is_valid():
            return HttpResponse("Choose open, done or dropped.", status=400)
        relations.action_item_set_status(item=item, actor=request.user, status=form.cleaned_data["status"])
        messages.success(
            request, f"“{item.title}” is now {ActionItemStatus(form.cleaned_data['status']).label.lower()}."
        )
        return _back(request, default=_meeting_url(item.meeting))


# --- Request satisfaction -------------------------------------------------------------------------


def _own_survey_or_404(user, reference):
    # Only the requester answers: anyone else's survey is a 404, exactly like a missing one.
    surveys_of_user = SatisfactionSurvey.objects.for_requester(user).select_related(
        "procurement_request", "follow_up__closed_by"
    )
    return get_object_or_404(surveys_of_user, procurement_request__reference=reference)


class SurveyView(LoginRequiredMixin, View):
    """The requester's survey: the e-mail's one-click link opens it with that rating chosen."""

    template_name = "stakeholders/survey.html"

    def get(self, request, reference):
        survey = _own_survey_or_404(request.user, reference)
        initial = {"rating": survey.rating, "comment": survey.comment}
        chosen = request.GET.get("rating", "")
        if chosen in {str(value) for value in surveys.RATINGS}:  # anything else in the link is ignored
            initial["rating"] = int(chosen)
        return self.page(request, survey, SurveyForm(initial=initial))

    def post(self, request, reference):
        survey = _own_survey_or_404(request.user, reference)
        form = SurveyForm(request.POST)
        if form.is_valid():
            try:
                surveys.survey_answer(survey=survey, actor=request.user, **form.cleaned_data)
            except ValidationError as error:
                apply_service_errors(form, error)
            else:
                messages.success(request, "Thank you: your answer is saved.")
                return redirect("stakeholders:survey", reference=reference)
        return self.page(request, survey, form, status=400)

    def page(self, request, survey, form, status=200):
        context = {
            "survey": survey,
            "procurement_request": survey.procurement_request,
            "form": form,
            "changeable": survey.is_changeable(),
            "change_days": surveys.SURVEY_CHANGE_DAYS,
        }
        return render(request, self.template_name, context, status=status)


class FollowUpView(LoginRequiredMixin, View):
    """A low score's follow-up: what the requester said; its owner (or a manager) closes it with a note."""

    template_name = "stakeholders/follow_up.html"

    def _follow_up(self, user, pk):
        visible = SurveyFollowUp.objects.visible_to(user).select_related(
            "survey__procurement_request__department", "survey__requester", "owner", "closed_by"
        )
        return get_object_or_404(visible, pk=pk)

    def get(self, request, pk):
        return self.page(request, self._follow_up(request.user, pk), FollowUpCloseForm())

    def post(self, request, pk):
        follow_up = self._follow_up(request.user, pk)
        if not can_close_follow_up(request.user, follow_up):
            raise PermissionDenied
        form = FollowUpCloseForm(request.POST)
        if form.is_valid():
            try:
                surveys.follow_up_close(follow_up=follow_up, actor=request.user, note=form.cleaned_data["note"])
            except ValidationError as error:
                apply_service_errors(form, error)
            else:
                requester = follow_up.survey.requester
                messages.success(request, f"Follow-up closed: {requester.get_full_name() or requester} is told.")
                return redirect("stakeholders:follow_up", pk=pk)
        return self.page(request, follow_up, form, status=400)

    def page(self, request, follow_up, form, status=200):
        context = {
            "follow_up": follow_up,
            "survey": follow_up.survey,
            "procurement_request": follow_up.survey.procurement_request,
            "form": form if follow_up.closed_at is None and can_close_follow_up(request.user, follow_up) else None,
            "now": timezone.now(),
        }
        return render(request, self.template_name, context, status=status)


# --- The periodic relationship survey -------------------------------------------------------------


class RelationshipScheduleView(ManagerFormPage):
    form_class = RelationshipScheduleForm
    heading = "Relationship survey schedule"

    def get_initial(self):
        schedule = RelationshipSurveySchedule.objects.filter(department=self.department).first()
        if schedule is None:
            return {"every_months": 6, "next_on": timezone.localdate()}
        return {"every_months": schedule.every_months, "next_on": schedule.next_on}

    def perform(self, data):
        surveys.relationship_survey_schedule_set(department=self.department, actor=self.request.user, **data)
        messages.success(self.request, "The relationship survey schedule is saved.")
        return relations.department_url(self.department) + "#relationship"


class RelationshipSurveyView(LoginRequiredMixin, View):
    """A round of the relationship survey: the department's staff answer it; anyone else gets a 404."""

    template_name = "stakeholders/relationship_survey.html"

    def _survey(self, user, code, pk):
        department = _department_or_404(user, code)
        if user not in relations.department_staff(department):
            raise Http404
        return get_object_or_404(RelationshipSurvey.objects.select_related("department"), pk=pk, department=department)

    def get(self, request, code, pk):
        survey = self._survey(request.user, code, pk)
        answer = RelationshipAnswer.objects.filter(survey=survey, respondent=request.user).first()
        initial = {name: getattr(answer, name) for name in RelationshipAnswerForm().fields} if answer else {}
        return self.page(request, survey, RelationshipAnswerForm(initial=initial), answer=answer)

    def post(self, request, code, pk):
        survey = self._survey(request.user, code, pk)
        form = RelationshipAnswerForm(request.POST)
        if form.is_valid():
            data = dict(form.cleaned_data)
            comment = data.pop("comment")
            try:
                surveys.relationship_survey_answer(survey=survey, actor=request.user, answers=data, comment=comment)
            except ValidationError as error:
                apply_service_errors(form, error)
            else:
                messages.success(request, "Thank you: your answers are saved.")
                return redirect(relations.department_url(survey.department) + "#relationship")
        return self.page(request, survey, form, status=400)

    def page(self, request, survey, form, status=200, answer=None):
        context = {
            "survey": survey,
            "department": survey.department,
            "form": form,
            "answer": answer,
            "is_open": survey.is_open(timezone.localdate()),
        }
        return render(request, self.template_name, context, status=status)


class ScorecardView(LoginRequiredMixin, View):
    """A department's SLA scorecard for its head (and Procurement): promises, delivery, open work and risk,
    the last four quarters. Print-friendly. Another department's scorecard is a 404, like a missing one."""

    def get(self, request, code):
        department = Department.objects.filter(code__iexact=code).first()
        if department is None or not can_view_scorecard(request.user, department):
            raise Http404("No such department.")
        form = DashboardFilterForm(request.GET or None)
        period = form.chosen_period()
        card = dashboard.department_scorecard(
            department, period, snapshot=snapshots.scorecard_snapshot(department, period)
        )
        csat = dashboard.csat_in_scope(dashboard.Scope(period, department_id=department.pk))
        return render(request, "stakeholders/scorecard.html", {"form": form, "card": card, "csat": csat})
