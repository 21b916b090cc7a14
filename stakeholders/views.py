"""What people see of themselves: their settings, the bell, the notification list, e-mail preferences."""

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.generic import ListView

from requests_app.permissions import can_view_scorecard
from slas import dashboard
from slas.forms import DashboardFilterForm

from . import services
from .forms import NotificationPreferencesForm, PersonalSettingsForm
from .middleware import session_time_zone_set
from .models import Department, Notification, NotificationKind, NotificationPreference, profile_for
from .services import profile_update

BELL_CHANGED = "notificationsChanged"  # htmx event: the bell refreshes its count


class LoginView(auth_views.LoginView):
    """Django's login, which also remembers the person's time zone for the session."""

    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        session_time_zone_set(self.request, profile_for(form.get_user()).time_zone)
        return response


class PersonalSettingsView(LoginRequiredMixin, View):
    template_name = "stakeholders/settings.html"

    def get(self, request):
        form = PersonalSettingsForm(initial={"time_zone": profile_for(request.user).time_zone})
        return render(request, self.template_name, {"form": form})

    def post(self, request):
        form = PersonalSettingsForm(request.POST)
        if form.is_valid():
            try:
                profile = profile_update(
                    user=request.user, actor=request.user, time_zone=form.cleaned_data["time_zone"]
                )
            except ValidationError as error:
                form.add_error("time_zone", error.messages)
            else:
                session_time_zone_set(request, profile.time_zone)
                messages.success(request, f"Times are now shown in {profile.zone.key.replace('_', ' ')}.")
                return redirect("stakeholders:settings")
        return render(request, self.template_name, {"form": form}, status=400)


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


def _back(request):
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("stakeholders:notifications")


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


class ScorecardView(LoginRequiredMixin, View):
    """A department's SLA scorecard for its head (and Procurement): promises, delivery, open work and risk,
    the last four quarters. Print-friendly. Another department's scorecard is a 404, like a missing one."""

    def get(self, request, code):
        department = Department.objects.filter(code__iexact=code).first()
        if department is None or not can_view_scorecard(request.user, department):
            raise Http404("No such department.")
        form = DashboardFilterForm(request.GET or None)
        card = dashboard.department_scorecard(department, form.chosen_period())
        return render(request, "stakeholders/scorecard.html", {"form": form, "card": card})
