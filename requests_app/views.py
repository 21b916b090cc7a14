from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View
from django.views.generic import DetailView, ListView

from slas.selectors import request_clock_views
from stakeholders.roles import SUBMIT, VIEW_ALL, perm_name

from . import permissions, services
from .forms import (
    AssignForm,
    CommentForm,
    ExpectedDateForm,
    NoteForm,
    OrderForm,
    ProcurementRequestForm,
    QuestionForm,
    ReasonForm,
    ReprioritiseForm,
    RequestFilterForm,
)
from .models import Attachment, ProcurementRequest, Status


def home(request):
    """Send each role to the page they start their day on."""
    if not request.user.is_authenticated:
        return redirect("login")
    if permissions.is_procurement_staff(request.user):
        return redirect("requests_app:all")
    if permissions.headed_department_ids(request.user):
        return redirect("requests_app:approvals")
    return redirect("requests_app:mine")


def _visible_request_or_404(user, reference):
    return get_object_or_404(
        ProcurementRequest.objects.visible_to(user).select_related(
            "category", "department__head", "requester", "assignee", "currency"
        ),
        reference=reference,
    )


def procurement_request_url(procurement_request):
    return reverse("requests_app:detail", kwargs={"reference": procurement_request.reference})


def _apply_service_errors(form, error):
    """Show a service's ValidationError beside the field it names, or above the form."""
    if hasattr(error, "error_dict"):
        for field, messages_ in error.message_dict.items():
            form.add_error(field if field in form.fields else None, messages_)
    else:
        form.add_error(None, error.messages)


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
                    title=data["title"],
                    description=data["description"],
                    category=data["category"],
                    priority=data["priority"],
                    estimated_value=data["estimated_value"],
                    currency=data["currency"],
                    cost_centre=data["cost_centre"],
                    needed_by=data["needed_by"],
                    suggested_supplier=data["suggested_supplier"],
                    is_confidential=data["is_confidential"],
                    submission_token=data["submission_token"],
                    files=data["attachments"],
                )
            except ValidationError as error:
                _apply_service_errors(form, error)
            else:
                if not created:
                    messages.info(request, f"This form was already sent: {procurement_request.reference}.")
                return redirect("requests_app:confirmation", reference=procurement_request.reference)
        return render(request, self.template_name, {"form": form}, status=400)


class RequestConfirmationView(LoginRequiredMixin, DetailView):
    template_name = "requests_app/request_confirmation.html"
    context_object_name = "procurement_request"

    def get_object(self, queryset=None):
        return _visible_request_or_404(self.request.user, self.kwargs["reference"])


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
        procurement_request = _visible_request_or_404(request.user, reference)
        return render(request, self.template_name, detail_context(request, procurement_request))


def detail_context(request, procurement_request, *, comment_form=None, action_forms=None, expected_form=None):
    user = request.user
    include_internal = permissions.can_view_internal(user)
    actions = permissions.available_actions(user, procurement_request)
    forms_by_action = {action: action_form(action) for action in actions}
    forms_by_action.update(action_forms or {})
    waiting_question = None
    if procurement_request.status == Status.WAITING_FOR_REQUESTER:
        waiting_question = (
            procurement_request.events.filter(to_status=Status.WAITING_FOR_REQUESTER)
            .select_related("actor")
            .order_by("-created_at", "-id")
            .first()
        )
    return {
        "procurement_request": procurement_request,
        "clock_views": request_clock_views(procurement_request),
        "waiting_question": waiting_question,
        "is_requester_side": permissions.is_requester_side(user, procurement_request),
        "events": procurement_request.events.for_timeline(include_internal=include_internal),
        "attachments": procurement_request.attachments.filter(
            **({} if include_internal else {"is_internal": False})
        ).select_related("uploaded_by"),
        "can_reply": permissions.can_reply(user, procurement_request),
        "comment_form": comment_form or CommentForm(allow_internal=include_internal),
        "actions": [(action, ACTION_LABELS[action], forms_by_action[action]) for action in actions],
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
        procurement_request = _visible_request_or_404(request.user, reference)
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
                _apply_service_errors(form, error)
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


# The form each action asks for (NoteForm when not listed) and the label of its button.
ACTION_FORMS = {
    "reject": ReasonForm,
    "cancel": ReasonForm,
    "reopen": ReasonForm,
    "wait_for_requester": QuestionForm,
    "mark_ordered": OrderForm,
    "assign": AssignForm,
    "reprioritise": ReprioritiseForm,
}


def action_form(action, data=None):
    # Several action forms share a page and field names ("note"): prefix the ids, not the names,
    # so that each label and error points at its own field.
    return ACTION_FORMS.get(action, NoteForm)(data, auto_id=f"id_{action}_%s")


ACTION_LABELS = {
    "approve": "Approve",
    "reject": "Reject",
    "claim": "Claim",
    "assign": "Assign",
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


def action_service(action):
    """The service behind an action: every verb is `procurement_request_<action>` in services.py."""
    return getattr(services, f"procurement_request_{action}")


class RequestActionView(LoginRequiredMixin, View):
    """One URL per lifecycle action; `action` is set in urls.py."""

    action = None

    def post(self, request, reference):
        procurement_request = _visible_request_or_404(request.user, reference)
        form = action_form(self.action, request.POST)
        if form.is_valid():
            arguments = {
                key: value
                for key, value in form.cleaned_data.items()
                if key in {"note", "po_number", "assignee", "priority", "category"}
            }
            if self.action == "claim":
                arguments.pop("note", None)
            try:
                action_service(self.action)(procurement_request=procurement_request, actor=request.user, **arguments)
            except services.ActionNotAllowed as error:
                messages.error(request, str(error))
                return redirect("requests_app:detail", reference=reference)
            except ValidationError as error:
                _apply_service_errors(form, error)
            else:
                messages.success(request, f"{reference} {ACTION_DONE[self.action]}.")
                return redirect("requests_app:detail", reference=reference)
        context = detail_context(request, procurement_request, action_forms={self.action: form})
        context["open_action"] = self.action
        return render(request, "requests_app/request_detail.html", context, status=400)


class ExpectedDateView(LoginRequiredMixin, View):
    """The buyer sets the date the requester can expect delivery; the requester is told."""

    def post(self, request, reference):
        procurement_request = _visible_request_or_404(request.user, reference)
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
                _apply_service_errors(form, error)
            else:
                messages.success(request, f"{reference}: the requester is told the new expected date.")
                return redirect("requests_app:detail", reference=reference)
        context = detail_context(request, procurement_request, expected_form=form)
        return render(request, "requests_app/request_detail.html", context, status=400)


class AttachmentDownloadView(LoginRequiredMixin, View):
    """Files are only ever served through here, after the same visibility check as the page."""

    def get(self, request, reference, attachment_id):
        procurement_request = _visible_request_or_404(request.user, reference)
        attachment = get_object_or_404(Attachment, pk=attachment_id, procurement_request=procurement_request)
        if attachment.is_internal and not permissions.can_view_internal(request.user):
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
