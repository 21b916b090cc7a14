import csv
import itertools
import json

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, OuterRef, Prefetch, Subquery
from django.db.models.functions import Coalesce
from django.http import FileResponse, Http404, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.views import View
from django.views.generic import DetailView, ListView

from slas.selectors import request_clock_views
from stakeholders import satisfaction
from stakeholders.models import profile_for
from stakeholders.roles import ASSIGN, SUBMIT, VIEW_ALL, WORK, perm_name

from . import approval_links, permissions, queue, routing, services
from .forms import (
    AvailabilityForm,
    BulkActionForm,
    CommentForm,
    ExpectedDateForm,
    ProcurementRequestForm,
    QueueFilterForm,
    RequestFilterForm,
    RoutingRuleForm,
    RoutingTryForm,
    SavedQueueViewForm,
    WatcherForm,
    action_form,
    apply_service_errors,
)
from .models import (
    OPEN_STATUSES,
    Attachment,
    BuyerTeam,
    ProcurementRequest,
    RoutingRule,
    SavedQueueView,
    Status,
    TeamMembership,
    Watcher,
)
from .notifications import PRIORITY_LABELS


def home(request):
    """Send each role to the page they start their day on."""
    if not request.user.is_authenticated:
        return redirect("login")
    if permissions.is_procurement_staff(request.user):
        return redirect("requests_app:queue", view=queue.default_view_for(request.user))
    if permissions.headed_department_ids(request.user):
        return redirect("requests_app:approvals")
    return redirect("requests_app:mine")


def visible_request_or_404(user, reference):
    return get_object_or_404(
        ProcurementRequest.objects.visible_to(user).select_related(
            "category", "department__head", "requester", "assignee__profile", "currency", "team"
        ),
        reference=reference,
    )


def procurement_request_url(procurement_request):
    return reverse("requests_app:detail", kwargs={"reference": procurement_request.reference})


class RequestCreateView(LoginRequiredMixin, PermissionRequiredMixin, View):
    permission_required = perm_name(SUBMIT)
    template_name = "requests_app/request_form.html"

    def get(self, request):
        return render(request, self.template_name, {"form": ProcurementRequestForm()})

    def post(self, request):
        form = ProcurementRequestForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            try:
                procurement_request, created = services.procurement_request_submit(
                    requester=request.user,
                    **form.request_fields(),
                    submission_token=data["submission_token"],
                    files=data["attachments"],
                )
            except ValidationError as error:
                apply_service_errors(form, error)
            else:
                if not created:
                    messages.info(request, f"This form was already sent: {procurement_request.reference}.")
                return redirect("requests_app:confirmation", reference=procurement_request.reference)
        return render(request, self.template_name, {"form": form}, status=400)


class RequestConfirmationView(LoginRequiredMixin, DetailView):
    template_name = "requests_app/request_confirmation.html"
    context_object_name = "procurement_request"

    def get_object(self, queryset=None):
        return visible_request_or_404(self.request.user, self.kwargs["reference"])


class RequestListView(LoginRequiredMixin, ListView):
    """One list page per scope; all share filters, ordering and pagination."""

    template_name = "requests_app/request_list.html"
    context_object_name = "procurement_requests"
    paginate_by = 25
    scope = "mine"
    titles = {
        "mine": "My requests",
        "department": "My department's requests",
        "approvals": "Waiting for my approval",
        "all": "All requests",
    }

    def get_queryset(self):
        user = self.request.user
        requests = ProcurementRequest.objects.visible_to(user).with_list_relations()
        if self.scope == "mine":
            requests = requests.filter(requester=user)
        elif self.scope == "department":
            department_id = permissions.user_department_id(user)
            headed = permissions.headed_department_ids(user)
            requests = requests.filter(department_id__in={department_id, *headed} - {None})
        elif self.scope == "approvals":
            requests = requests.awaiting_approval_by(user)
        elif self.scope == "all" and not user.has_perm(perm_name(VIEW_ALL)):
            raise PermissionDenied
        self.filter_form = RequestFilterForm(self.request.GET or None)
        return self.filter_form.apply(requests)

    def paginate_queryset(self, queryset, page_size):
        # A page number past the end or not a number shows the nearest page instead of a 404.
        paginator = self.get_paginator(queryset, page_size, allow_empty_first_page=True)
        page = paginator.get_page(self.request.GET.get("page"))
        return paginator, page, page.object_list, page.has_other_pages()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET.copy()
        query.pop("page", None)
        context.update(
            title=self.titles[self.scope],
            scope=self.scope,
            filter_form=self.filter_form,
            querystring=query.urlencode(),
            show_requester=self.scope != "mine",
        )
        return context


class RequestDetailView(LoginRequiredMixin, View):
    template_name = "requests_app/request_detail.html"

    def get(self, request, reference):
        procurement_request = visible_request_or_404(request.user, reference)
        return render(request, self.template_name, detail_context(request, procurement_request))


def request_actions(user, procurement_request, *, bound=None):
    """[(action, label, form)] for the actions the user can take now; `bound` replaces some forms (errors)."""
    forms_by_action = {
        action: action_form(action, procurement_request=procurement_request)
        for action in permissions.available_actions(user, procurement_request)
    }
    forms_by_action.update({action: form for action, form in (bound or {}).items() if action in forms_by_action})
    return [(action, ACTION_LABELS[action], form) for action, form in forms_by_action.items()]


def watchers_context(user, procurement_request, *, watcher_form=None):
    """The followers card: who follows, whether I do, and the form to add a colleague (requester, buyer)."""
    watchers = list(procurement_request.watchers.select_related("user").order_by("user__first_name", "user__username"))
    can_add = permissions.can_add_watchers(user, procurement_request)
    if watcher_form is None and can_add:
        watcher_form = WatcherForm(procurement_request=procurement_request, auto_id="id_watcher_%s")
    return {
        "procurement_request": procurement_request,
        "watchers": watchers,
        "is_watching": any(watcher.user_id == user.pk for watcher in watchers),
        "can_watch": permissions.can_watch(user, procurement_request),
        "can_add_watchers": can_add,
        "watcher_form": watcher_form,
    }


def detail_context(
    request, procurement_request, *, comment_form=None, action_forms=None, expected_form=None, watcher_form=None
):
    user = request.user
    include_internal = permissions.can_view_internal(user)
    waiting_question = None
    if procurement_request.status == Status.WAITING_FOR_REQUESTER:
        waiting_question = (
            procurement_request.events.filter(to_status=Status.WAITING_FOR_REQUESTER)
            .select_related("actor")
            .order_by("-created_at", "-id")
            .first()
        )
    # Its satisfaction survey, for the requester and Procurement (a query only once it was ever completed).
    survey = None
    if procurement_request.completed_at is not None and (
        procurement_request.requester_id == user.pk or permissions.is_procurement_staff(user)
    ):
        survey = satisfaction.request_survey(procurement_request)
    return {
        **watchers_context(user, procurement_request, watcher_form=watcher_form),
        "survey": survey,
        "clock_views": request_clock_views(procurement_request),
        "waiting_question": waiting_question,
        "is_requester_side": permissions.is_requester_side(user, procurement_request),
        "events": procurement_request.events.for_timeline(include_internal=include_internal),
        "attachments": procurement_request.attachments.filter(
            **({} if include_internal else {"is_internal": False})
        ).select_related("uploaded_by"),
        "can_reply": permissions.can_reply(user, procurement_request),
        "comment_form": comment_form or CommentForm(allow_internal=include_internal),
        "actions": request_actions(user, procurement_request, bound=action_forms),
        "expected_form": expected_form
        or (
            ExpectedDateForm(initial={"expected_on": procurement_request.expected_on}, auto_id="id_expected_%s")
            if permissions.can_set_expected_date(user, procurement_request)
            else None
        ),
    }


class CommentCreateView(LoginRequiredMixin, View):
    """Post a reply or note; htmx swaps the conversation in place, plain POST redirects back."""

    def post(self, request, reference):
        procurement_request = visible_request_or_404(request.user, reference)
        allow_internal = permissions.can_view_internal(request.user)
        form = CommentForm(request.POST, request.FILES, allow_internal=allow_internal)
        if form.is_valid():
            try:
                services.comment_add(
                    procurement_request=procurement_request,
                    author=request.user,
                    body=form.cleaned_data["body"],
                    is_internal=form.cleaned_data.get("is_internal", False),
                    files=form.cleaned_data["attachments"],
                )
            except ValidationError as error:
                apply_service_errors(form, error)
            else:
                if request.htmx:
                    status_before = procurement_request.status
                    procurement_request.refresh_from_db()
                    if procurement_request.status != status_before:
                        # The status badge, banner and actions sit outside the swapped part.
                        messages.success(request, "Your message was added and the request is back with Procurement.")
                        response = HttpResponse(status=204)
                        response["HX-Redirect"] = procurement_request_url(procurement_request)
                        return response
                    return render(
                        request,
                        "requests_app/_partials/conversation.html",
                        detail_context(request, procurement_request),
                    )
                messages.success(request, "Your message was added.")
                return redirect("requests_app:detail", reference=reference)
        template = "requests_app/_partials/conversation.html" if request.htmx else "requests_app/request_detail.html"
        return render(request, template, detail_context(request, procurement_request, comment_form=form), status=400)


# The label of each action's button.
ACTION_LABELS = {
    "approve": "Approve",
    "reject": "Reject",
    "claim": "Claim",
    "assign": "Assign",
    "reroute": "Re-route",
    "start": "Start work",
    "wait_for_requester": "Ask the requester",
    "wait_for_supplier": "Waiting for supplier",
    "resume": "Resume work",
    "mark_ordered": "Record order",
    "complete": "Complete",
    "reprioritise": "Change priority",
    "close": "Close",
    "cancel": "Cancel request",
    "reopen": "Reopen",
}
ACTION_DONE = {
    "approve": "is approved; Procurement will pick it up",
    "reject": "is rejected; the requester sees your reason",
    "claim": "is yours now",
    "assign": "is assigned",
    "reroute": "went through the routing rules again; the timeline says where it went",
    "start": "is in progress",
    "wait_for_requester": "is waiting for the requester's answer",
    "wait_for_supplier": "is waiting for the supplier",
    "resume": "is in progress again",
    "mark_ordered": "is ordered; the PO number is recorded",
    "complete": "is completed",
    "reprioritise": "has its new priority or category; the SLA clocks follow the new goal",
    "close": "is closed",
    "cancel": "is cancelled",
    "reopen": "is reopened and back in progress",
}


def action_arguments(action, cleaned_data):
    """The service's arguments from an action form's cleaned data (the version is passed on its own)."""
    arguments = {
        key: value
        for key, value in cleaned_data.items()
        if key in {"note", "po_number", "assignee", "priority", "category"}
    }
    if action == "claim":
        arguments.pop("note", None)
    return arguments


def action_service(action):
    """The service behind an action: every verb is `procurement_request_<action>` in services.py."""
    return getattr(services, f"procurement_request_{action}")


def _next_url(request):
    """The page to return to after a plain-form action (the queue sends its own URL), if it is ours."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return ""


class RequestActionView(LoginRequiredMixin, View):
    """One URL per lifecycle action; `action` is set in urls.py.

    A plain POST redirects back (to the request page, or to the queue it came from) with a message; the
    queue's htmx POST (`respond_with=row`) is answered with the re-rendered queue row, or with 409 and
    the row as it is now when the request changed under the user (claimed by someone else, stale).
    """

    action = None

    def post(self, request, reference):
        procurement_request = visible_request_or_404(request.user, reference)
        form = action_form(self.action, request.POST)
        in_queue = bool(request.htmx) and request.POST.get("respond_with") == "row"
        back = _next_url(request) or procurement_request_url(procurement_request)
        if form.is_valid():
            arguments = action_arguments(self.action, form.cleaned_data)
            try:
                action_service(self.action)(
                    procurement_request=procurement_request,
                    actor=request.user,
                    expected_version=form.cleaned_data.get("version"),
                    **arguments,
                )
            except services.ActionNotAllowed as error:
                if in_queue:
                    return queue_row_response(request, procurement_request, message=str(error), ok=False)
                messages.error(request, str(error))
                return redirect(back)
            except ValidationError as error:
                apply_service_errors(form, error)
            else:
                done = f"{reference} {ACTION_DONE[self.action]}."
                if in_queue:
                    return queue_row_response(request, procurement_request, message=done)
                messages.success(request, done)
                return redirect(back)
        if in_queue:
            context = {
                "pr": procurement_request,
                "action": self.action,
                "label": ACTION_LABELS[self.action],
                "form": form,
                "open_action": self.action,
                "queue_mode": True,
                "next_url": _next_url(request),
            }
            return render(request, "requests_app/_partials/action_form.html", context, status=400)
        context = detail_context(request, procurement_request, action_forms={self.action: form})
        context["open_action"] = self.action
        return render(request, "requests_app/request_detail.html", context, status=400)


class ApprovalLinkView(LoginRequiredMixin, View):
    """The page a one-click approval link opens (approval_links.py): the request in brief and one button.

    GET only shows; the POST decides through the same service as the request page, expecting the version
    the link was written for. A link that cannot be used says why, with a way to the request page.
    """

    template_name = "requests_app/approval_link.html"

    def get(self, request, token):
        try:
            procurement_request, decision, _ = approval_links.approval_link_open(token=token, user=request.user)
        except approval_links.InvalidLink as invalid:
            return self._refused(request, invalid)
        return self._confirm(request, procurement_request, decision, self._form(decision))

    def post(self, request, token):
        try:
            procurement_request, decision, version = approval_links.approval_link_open(token=token, user=request.user)
        except approval_links.InvalidLink as invalid:
            return self._refused(request, invalid)
        form = self._form(decision, request.POST)
        if form.is_valid():
            try:
                action_service(decision)(
                    procurement_request=procurement_request,
                    actor=request.user,
                    note=form.cleaned_data.get("note", ""),
                    expected_version=version,
                )
            except (services.ActionNotAllowed, PermissionDenied) as error:
                return self._refused(request, approval_links.InvalidLink(str(error), status=409), procurement_request)
            except ValidationError as error:
                apply_service_errors(form, error)
            else:
                messages.success(request, f"{procurement_request.reference} {ACTION_DONE[decision]}.")
                return redirect(procurement_request_url(procurement_request))
        return self._confirm(request, procurement_request, decision, form, status=400)

    def _form(self, decision, data=None):
        form = action_form(decision, data)
        # In the reader's language, like the rest of this page (set before any bound field is read).
        form.fields["note"].label = gettext("Reason") if decision == "reject" else gettext("Note")
        return form

    def _confirm(self, request, procurement_request, decision, form, status=200):
        context = {
            "pr": procurement_request,
            "decision": decision,
            "priority": PRIORITY_LABELS.get(procurement_request.priority, procurement_request.priority),
            "form": form,
        }
        return render(request, self.template_name, context, status=status)

    def _refused(self, request, invalid, procurement_request=None):
        context = {"refusal": invalid.message, "pr": invalid.procurement_request or procurement_request}
        return render(request, self.template_name, context, status=invalid.status)


class ExpectedDateView(LoginRequiredMixin, View):
    """The buyer sets the date the requester can expect delivery; the requester is told."""

    def post(self, request, reference):
        procurement_request = visible_request_or_404(request.user, reference)
        if not permissions.can_set_expected_date(request.user, procurement_request):
            raise PermissionDenied
        form = ExpectedDateForm(request.POST, auto_id="id_expected_%s")
        if form.is_valid():
            try:
                services.procurement_request_set_expected_date(
                    procurement_request=procurement_request,
                    actor=request.user,
                    expected_on=form.cleaned_data["expected_on"],
                    note=form.cleaned_data["note"],
                )
            except ValidationError as error:
                apply_service_errors(form, error)
            else:
                messages.success(request, f"{reference}: the requester is told the new expected date.")
                return redirect("requests_app:detail", reference=reference)
        context = detail_context(request, procurement_request, expected_form=form)
        return render(request, "requests_app/request_detail.html", context, status=400)


def _watchers_answer(request, procurement_request, text=None, *, watcher_form=None, status=200):
    """htmx: the followers card again; a plain form: back to the request (or its page with the form's errors)."""
    if request.htmx:
        context = watchers_context(request.user, procurement_request, watcher_form=watcher_form)
        return render(request, "requests_app/_partials/watchers.html", context, status=status)
    if status != 200:
        context = detail_context(request, procurement_request, watcher_form=watcher_form)
        return render(request, "requests_app/request_detail.html", context, status=status)
    if text:
        messages.success(request, text)
    return redirect("requests_app:detail", reference=procurement_request.reference)


class FollowView(LoginRequiredMixin, View):
    """Follow (follow=1) or stop following (follow=0) a request you can see."""

    def post(self, request, reference):
        procurement_request = visible_request_or_404(request.user, reference)
        if request.POST.get("follow") == "0":
            services.watcher_remove(procurement_request=procurement_request, actor=request.user, user=request.user)
            text = f"You no longer follow {reference}."
        else:
            services.watcher_add(procurement_request=procurement_request, actor=request.user, user=request.user)
            text = f"You follow {reference}: its replies and status changes reach you."
        return _watchers_answer(request, procurement_request, text)


class WatcherAddView(LoginRequiredMixin, View):
    """The requester or the buyer adds a colleague who can see the request as a follower."""

    def post(self, request, reference):
        procurement_request = visible_request_or_404(request.user, reference)
        if not permissions.can_add_watchers(request.user, procurement_request):
            raise PermissionDenied("You cannot add followers to this request.")
        form = WatcherForm(request.POST, procurement_request=procurement_request, auto_id="id_watcher_%s")
        if form.is_valid():
            colleague = form.cleaned_data["user"]
            try:
                services.watcher_add(procurement_request=procurement_request, actor=request.user, user=colleague)
            except ValidationError as error:
                apply_service_errors(form, error)
            else:
                return _watchers_answer(
                    request, procurement_request, f"{colleague.get_full_name()} follows {reference} now."
                )
        return _watchers_answer(request, procurement_request, watcher_form=form, status=400)


class WatcherRemoveView(LoginRequiredMixin, View):
    def post(self, request, reference, user_id):
        procurement_request = visible_request_or_404(request.user, reference)
        watcher = get_object_or_404(
            Watcher.objects.select_related("user"), procurement_request=procurement_request, user_id=user_id
        )
        services.watcher_remove(procurement_request=procurement_request, actor=request.user, user=watcher.user)
        return _watchers_answer(
            request, procurement_request, f"{watcher.user.get_full_name()} no longer follows {reference}."
        )


class AttachmentDownloadView(LoginRequiredMixin, View):
    """Files are only ever served through here, after the same visibility check as the page."""

    def get(self, request, reference, attachment_id):
        return attachment_download(request.user, reference, attachment_id)


def attachment_download(user, reference, attachment_id):
    """The file as a download, after the page's visibility check (the page and the API serve files here)."""
    procurement_request = visible_request_or_404(user, reference)
    attachment = get_object_or_404(Attachment, pk=attachment_id, procurement_request=procurement_request)
    if attachment.is_internal and not permissions.can_view_internal(user):
        raise Http404
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError as missing:
        raise Http404 from missing
    response = FileResponse(
        handle, as_attachment=True, filename=attachment.original_name, content_type=attachment.content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


# --- routing (procurement managers) and availability ----------------------------------------------


class ManagerRequiredMixin(LoginRequiredMixin, PermissionRequiredMixin):
    """Procurement managers only: anonymous users log in, everyone else gets 403 (like the work list)."""

    permission_required = perm_name(ASSIGN)


def _open_requests_of_member():
    open_work = (
        ProcurementRequest.objects.filter(assignee=OuterRef("user_id"), status__in=OPEN_STATUSES)
        .order_by()
        .values("assignee")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return Coalesce(Subquery(open_work), 0)


def _choose_buyer(user):
    """Whether the availability form offers a choice of buyer (managers and team leads) or is their own."""
    return permissions.is_manager(user) or BuyerTeam.objects.filter(lead=user).exists()


class RoutingView(ManagerRequiredMixin, View):
    """The rules in the order they are tried, a dry run, the teams and who is away."""

    template_name = "requests_app/routing.html"

    def get(self, request):
        try_form = RoutingTryForm(request.GET if "try" in request.GET else None)
        decision = None
        if try_form.is_valid():
            decision = routing.routing_preview(**try_form.cleaned_data)
        memberships = TeamMembership.objects.select_related("user__profile").annotate(
            open_requests=_open_requests_of_member()
        )
        teams = BuyerTeam.objects.select_related("lead", "calendar").prefetch_related(
            Prefetch("memberships", queryset=memberships)
        )
        context = {
            "rules": RoutingRule.objects.select_related("category", "department", "currency", "team"),
            "teams": teams,
            "try_form": try_form,
            "decision": decision,
            "availability_form": AvailabilityForm(user=request.user, choose_buyer=True),
            "today": timezone.localdate(),
        }
        return render(request, self.template_name, context)


# --- The buyer queue --------------------------------------------------------------------------------


def _queue_view_or_deny(user, name):
    """Procurement only: 403 for everyone else, as the work list answers; an unknown view is a 404."""
    if not permissions.is_procurement_staff(user):
        raise PermissionDenied
    queue_view = queue.QUEUE_VIEWS.get(name)
    if queue_view is None:
        raise Http404
    if not queue_view.may_open(user):
        raise PermissionDenied
    return queue_view


def _queue_requests(request, name):
    """The queue view, its filter form, its requests with the filters applied, in queue order, and, for a
    search with few matches, their ids in that order (None otherwise)."""
    queue_view = _queue_view_or_deny(request.user, name)
    filters = QueueFilterForm(request.GET or None, open_only=queue_view.open_only)
    requests = filters.apply(ProcurementRequest.objects.in_queue_view(name, request.user))
    matches = None
    if "q" in filters.active():
        matches = requests.search_matches_in_queue_order()
        requests = requests.queue_order_for_search(matches)
    return queue_view, filters, requests, matches


def bulk_actions_for(user):
    """[(action, label)] the user may apply to several requests at once (assigning is for managers)."""
    return [
        (action, ACTION_LABELS[action])
        for action in services.BULK_ACTIONS
        if action != "assign" or permissions.is_manager(user)
    ]


def _queue_message(request, response, text, *, ok=True):
    """Tell queue.js what happened, and the views' counts now, so the sidebar stays true without a reload."""
    counts = ProcurementRequest.objects.queue_counts(request.user)
    events = {
        "queue-message": {"level": "success" if ok else "danger", "text": text},
        "queue-counts": {name: queue.count_label(count) for name, count in counts.items()},
    }
    # JSON escapes non-ASCII, so names and dashes survive the latin-1 header.
    response["HX-Trigger"] = json.dumps(events)
    return response


def queue_row_response(request, procurement_request, *, message, ok=True):
    """The queue row as it is now, swapped in place of the row the user acted on (200 done, 409 refused)."""
    fresh = ProcurementRequest.objects.with_queue_relations().get(pk=procurement_request.pk)
    context = {"row": queue.queue_rows(request.user, [fresh])[0], "next_url": _next_url(request)}
    response = render(request, "requests_app/_partials/queue_row.html", context, status=200 if ok else 409)
    response["HX-Retarget"] = f"#row-{fresh.reference}"
    response["HX-Reswap"] = "outerHTML"
    return _queue_message(request, response, message, ok=ok)


class QueuePageView(LoginRequiredMixin, View):
    """A queue view: the requests most urgent first, with filters, counts, saved views and actions."""

    template_name = "requests_app/queue.html"

    def get(self, request, view):
        user = request.user
        queue_view, filters, requests, matches = _queue_requests(request, view)
        counts = ProcurementRequest.objects.queue_counts(user, with_follow_ups=True)
        follow_up_count = counts.pop("follow_ups", 0)
        active = filters.active()
        count = counts.get(view)
        if matches is not None:
            # A search's few matches are already in order: read only this page's rows.
            page = queue.queue_page_of_ids(
                matches,
                ProcurementRequest.objects.with_queue_relations(),
                page=request.GET.get("page"),
                size=request.GET.get("per_page"),
            )
        else:
            page = queue.queue_page(
                requests.with_queue_relations(),
                page=request.GET.get("page"),
                size=request.GET.get("per_page"),
                known_total=count if count is not None and count <= queue.QUEUE_COUNT_CAP and not active else None,
            )
        page_query = filters.querystring()
        if page.size != queue.PAGE_SIZES[0]:
            page_query = "&".join(part for part in (page_query, f"per_page={page.size}") if part)
        context = {
            "view_name": view,
            "queue_view": queue_view,
            "views": [
                (name, each, None if counts.get(name) is None else queue.count_label(counts[name]))
                for name, each in queue.views_for(user).items()
            ],
            "filters": filters,
            "filtered": bool(active),
            "querystring": filters.querystring(),
            "page_query": page_query,
            "page": page,
            "page_sizes": queue.PAGE_SIZES,
            "rows": queue.queue_rows(user, page.rows),
            "saved_views": SavedQueueView.objects.owned_by(user),
            "save_form": SavedQueueViewForm(),
            "bulk_form": BulkActionForm(actions=bulk_actions_for(user), buyers_loaded=filters.buyers),
            "next_url": request.get_full_path(),
            # Low satisfaction scores this person follows up (read only when the counts say there are some).
            "follow_ups": satisfaction.open_follow_ups(user) if follow_up_count else [],
            "follow_up_count": follow_up_count,
            "now": timezone.now(),
        }
        return render(request, self.template_name, context)


class RoutingRuleFormView(ManagerRequiredMixin, View):
    """Create a rule (no pk) or edit one; errors appear beside their fields."""

    template_name = "requests_app/routing_rule_form.html"

    def _rule(self, pk):
        return get_object_or_404(RoutingRule, pk=pk) if pk is not None else RoutingRule()

    def get(self, request, pk=None):
        rule = self._rule(pk)
        return render(request, self.template_name, {"form": RoutingRuleForm(instance=rule), "rule": rule})

    def post(self, request, pk=None):
        rule = self._rule(pk)
        # The form validates a copy, so that the page keeps the rule's saved name while showing errors.
        form = RoutingRuleForm(request.POST, instance=self._rule(pk))
        if form.is_valid():
            try:
                if rule.pk is None:
                    saved = services.routing_rule_create(actor=request.user, **form.cleaned_data)
                else:
                    saved = services.routing_rule_update(rule=rule, actor=request.user, **form.cleaned_data)
            except ValidationError as error:
                apply_service_errors(form, error)
            else:
                messages.success(request, f"Rule ‘{saved.name}’ is saved.")
                return redirect("requests_app:routing")
        return render(request, self.template_name, {"form": form, "rule": rule}, status=400)


class RoutingRuleDeleteView(ManagerRequiredMixin, View):
    def post(self, request, pk):
        rule = get_object_or_404(RoutingRule, pk=pk)
        try:
            services.routing_rule_delete(rule=rule, actor=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, f"Rule ‘{rule.name}’ is deleted.")
        return redirect("requests_app:routing")


class RoutingRuleMoveView(ManagerRequiredMixin, View):
    def post(self, request, pk):
        rule = get_object_or_404(RoutingRule, pk=pk)
        try:
            services.routing_rule_move(rule=rule, actor=request.user, direction=request.POST.get("direction"))
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        return redirect(f"{reverse('requests_app:routing')}#rule-{rule.pk}")


class AvailabilityView(LoginRequiredMixin, PermissionRequiredMixin, View):
    """Out of office: a buyer sets their own date; leads and managers choose whose."""

    permission_required = perm_name(WORK)
    template_name = "requests_app/availability.html"

    def _context(self, request, form):
        subjects = permissions.availability_subjects(request.user).select_related("profile")
        return {"form": form, "people": subjects, "today": timezone.localdate(), "next": self._next(request)}

    def _next(self, request):
        target = request.POST.get("next") or request.GET.get("next") or ""
        safe = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})
        return target if safe else ""

    def get(self, request):
        choose = _choose_buyer(request.user)
        initial = {"buyer": request.user.pk, "away_until": profile_for(request.user).away_until}
        form = AvailabilityForm(user=request.user, choose_buyer=choose, initial=initial)
        return render(request, self.template_name, self._context(request, form))

    def post(self, request):
        form = AvailabilityForm(request.POST, user=request.user, choose_buyer=_choose_buyer(request.user))
        if form.is_valid():
            buyer = form.cleaned_data.get("buyer") or request.user
            away_until = form.cleaned_data["away_until"]
            try:
                services.buyer_availability_set(buyer=buyer, actor=request.user, away_until=away_until)
            except ValidationError as error:
                apply_service_errors(form, error)
            else:
                name = buyer.get_full_name() or buyer.username
                when = f"out of office until {dateformat.format(away_until, 'D j M Y')}" if away_until else "available"
                messages.success(request, f"{name} is {when}.")
                return redirect(self._next(request) or "requests_app:availability")
        return render(request, self.template_name, self._context(request, form), status=400)


class QueueExportView(LoginRequiredMixin, View):
    """The queue view's filtered rows as CSV: all of them, streamed, with the page's visibility."""

    def get(self, request, view):
        _, _, requests, _ = _queue_requests(request, view)
        writer = csv.writer(_Echo())
        lines = itertools.chain(
            ["\ufeff"],  # a byte-order mark, so that spreadsheet programs read UTF-8
            (writer.writerow(row) for row in queue.export_rows(requests)),
        )
        response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
        filename = f"queue-{view}-{timezone.localdate():%Y-%m-%d}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class _Echo:
    """A file-like object whose write() returns the line, for csv.writer over a stream."""

    def write(self, value):
        return value


class QueueActionsView(LoginRequiredMixin, View):
    """The action forms of one queue row, for the queue's dialog (htmx)."""

    def get(self, request, reference):
        if not permissions.is_procurement_staff(request.user):
            raise PermissionDenied
        procurement_request = visible_request_or_404(request.user, reference)
        context = {
            "pr": procurement_request,
            "actions": request_actions(request.user, procurement_request),
            "queue_mode": True,
            "next_url": _next_url(request),
        }
        return render(request, "requests_app/_partials/queue_actions.html", context)


class QueueBulkView(LoginRequiredMixin, View):
    """Apply one action to the selected rows; each goes through its own service and lock."""

    def post(self, request):
        user = request.user
        if not permissions.is_procurement_staff(user):
            raise PermissionDenied
        back = _next_url(request) or reverse("requests_app:queue", kwargs={"view": queue.default_view_for(user)})
        form = BulkActionForm(request.POST, actions=bulk_actions_for(user))
        if not form.is_valid():
            problem = " ".join(message for errors in form.errors.values() for message in errors)
            if request.htmx:
                return _queue_message(request, HttpResponse(status=204), problem, ok=False)
            messages.error(request, problem)
            return redirect(back)
        data = form.cleaned_data
        arguments = {"note": data["note"]}
        if data["action"] == "assign":
            arguments["assignee"] = data["assignee"]
        outcome = services.procurement_request_bulk_act(
            actor=user, action=data["action"], versions=data["rows"], **arguments
        )
        summary, ok = outcome.summary(), not outcome.skipped
        if request.htmx:
            # Every selected row as it is now, done or skipped, swapped out of band by its id.
            fresh = (
                ProcurementRequest.objects.visible_to(user).with_queue_relations().filter(reference__in=data["rows"])
            )
            context = {"rows": queue.queue_rows(user, list(fresh)), "next_url": back}
            response = render(request, "requests_app/_partials/queue_rows_oob.html", context)
            return _queue_message(request, response, summary, ok=ok)
        (messages.success if ok else messages.warning)(request, summary)
        return redirect(back)


class SavedQueueViewCreateView(LoginRequiredMixin, View):
    def post(self, request):
        view = request.POST.get("view", "")
        _queue_view_or_deny(request.user, view)
        form = SavedQueueViewForm(request.POST)
        # Only what the filter form understands is kept, exactly as the queue page would apply it.
        filters = QueueFilterForm(QueryDict(request.POST.get("query", "")), open_only=queue.QUEUE_VIEWS[view].open_only)
        query = filters.querystring()
        target = reverse("requests_app:queue", kwargs={"view": view}) + (f"?{query}" if query else "")
        if form.is_valid():
            saved = services.saved_queue_view_save(
                user=request.user, name=form.cleaned_data["name"], view=view, query=query
            )
            messages.success(request, f"Saved as “{saved.name}”.")
        else:
            messages.error(request, "Give the saved view a name (at most 60 characters).")
        return redirect(target)


class SavedQueueViewDeleteView(LoginRequiredMixin, View):
    def post(self, request, pk):
        # Someone else's saved view is a 404, exactly like a missing one.
        saved = get_object_or_404(SavedQueueView.objects.owned_by(request.user), pk=pk)
        services.saved_queue_view_delete(saved_view=saved, actor=request.user)
        messages.success(request, f"Deleted the saved view “{saved.name}”.")
        return redirect(_next_url(request) or reverse("home"))
