"""The REST API, /api/v1/. Each view authorises exactly like the page it mirrors (the same
`visible_to` rule, so a request you may not see is a 404; the same services, so an action you may not
take is a 403), validates with the portal's forms, and calls the same service."""

import uuid

from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.datastructures import MultiValueDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from requests_app import permissions, services
from requests_app.forms import (
    ACTION_FORMS,
    CommentForm,
    NoteForm,
    ProcurementRequestForm,
    QueueFilterForm,
    action_form,
)
from requests_app.models import BuyerTeam, Category, Priority, ProcurementRequest, Status, TeamMembership
from requests_app.permissions import ACTION_RULES
from requests_app.queue import SLA_STATES
from requests_app.views import action_arguments, action_service, attachment_download, visible_request_or_404
from slas import dashboard
from slas.catalogue import catalogue, policies_in_matching_order
from slas.forms import DashboardFilterForm
from slas.selectors import request_clock_views
from stakeholders import services as stakeholder_services
from stakeholders.models import Department, Notification

from . import pagination
from .errors import Unprocessable, form_errors
from .forms import AttachmentUploadForm
from .serializers import (
    AttachmentSerializer,
    CataloguePolicySerializer,
    CategorySerializer,
    CommentResultSerializer,
    DashboardSerializer,
    DepartmentSerializer,
    MeSerializer,
    NotificationSerializer,
    RequestDetailSerializer,
    RequestSerializer,
    SlaPolicySerializer,
    TeamSerializer,
    form_serializer,
)
from .services import body_fingerprint, idempotent

TAG_REQUESTS = "Requests"
TAG_ACTIONS = "Request lifecycle"
TAG_REFERENCE = "Reference data"
TAG_ME = "You"


def _body(request):
    """The request body as a dict (JSON object or form fields); anything else is refused."""
    if not hasattr(request.data, "get"):
        raise Unprocessable({"non_field_errors": ["Send a JSON object."]}, code="invalid")
    return request.data


def _typed(serializer_class, data):
    """Refuse values of the wrong type before the portal's form applies its own rules."""
    typed = serializer_class(data=data)
    if not typed.is_valid():
        raise Unprocessable(typed.errors)
    return typed


def _bound(form_class, data, **kwargs):
    form = form_class(data=data, files=MultiValueDict(), **kwargs)
    if not form.is_valid():
        raise form_errors(form)
    return form


# --- You ---------------------------------------------------------------------------------------------


class MeView(APIView):
    @extend_schema(tags=[TAG_ME], responses=MeSerializer, summary="Who the token (or session) acts as")
    def get(self, request):
        return Response(MeSerializer(request.user).data)


# --- Requests ----------------------------------------------------------------------------------------

# The queue's filters (requests_app.forms.QueueFilterForm), as query parameters.
_FILTER_TYPES = {
    "q": (str, "Search: reference, title, description; for Procurement also every comment (full text)."),
    "status": (str, f"A status, or `open` for any open one. One of: open, {', '.join(Status.values)}."),
    "assignee": (str, "A buyer's user id, or `none` for unassigned."),
    "priority": (str, "low, normal, high or urgent."),
    "sla": (str, f"SLA state: {', '.join(SLA_STATES)}."),
    "department": (int, "Department id."),
    "category": (int, "Category id."),
    "team": (int, "Team id."),
    "value_min": (float, "Estimated value in EUR, at least."),
    "value_max": (float, "Estimated value in EUR, at most."),
    "created_from": (OpenApiTypes.DATE, "Filed on or after this day (desk time zone)."),
    "created_to": (OpenApiTypes.DATE, "Filed on or before this day."),
    "updated_from": (OpenApiTypes.DATE, "Changed on or after this day."),
    "updated_to": (OpenApiTypes.DATE, "Changed on or before this day."),
    "completed_from": (OpenApiTypes.DATE, "Completed on or after this day."),
    "completed_to": (OpenApiTypes.DATE, "Completed on or before this day."),
    "responded_from": (OpenApiTypes.DATE, "First response given on or after this day."),
    "responded_to": (OpenApiTypes.DATE, "First response given on or before this day."),
    "due_by": (OpenApiTypes.DATETIME, "Open, due by then and not overdue yet."),
}
assert set(_FILTER_TYPES) == set(QueueFilterForm.base_fields), "document every filter of the queue"
FILTER_PARAMETERS = [
    OpenApiParameter(name, kind, description=description) for name, (kind, description) in _FILTER_TYPES.items()
]

RequestCreateSerializer = form_serializer(
    ProcurementRequestForm, "RequestCreateSerializer", exclude=("submission_token", "attachments")
)
IDEMPOTENCY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    str,
    location=OpenApiParameter.HEADER,
    description="Any unique string (e.g. a UUID) per request you mean to file: a retry with the same key and "
    "body gets the first answer instead of filing twice; the same key with another body is refused (422).",
)


def detail_data(user, procurement_request):
    """The request as its page shows it: clocks, timeline, attachments, and the actions the user may take."""
    include_internal = permissions.can_view_internal(user)
    procurement_request.api_clocks = request_clock_views(procurement_request)
    procurement_request.api_timeline = procurement_request.events.for_timeline(include_internal=include_internal)
    attachments = procurement_request.attachments.select_related("uploaded_by")
    procurement_request.api_attachments = [
        _with_request(attachment, procurement_request)
        for attachment in (attachments if include_internal else attachments.filter(is_internal=False))
    ]
    procurement_request.api_actions = permissions.available_actions(user, procurement_request)
    return RequestDetailSerializer(procurement_request).data


def _with_request(attachment, procurement_request):
    attachment.procurement_request = procurement_request  # its download link needs the reference: no query
    return attachment


class RequestListView(APIView):
    @extend_schema(
        tags=[TAG_REQUESTS],
        summary="List the requests you may see",
        operation_id="requests_list",
        description="The queue's filters and order (most urgent SLA first). Pages by cursor: follow `next`.",
        parameters=[*FILTER_PARAMETERS, *pagination.PARAMETERS],
        responses=pagination.page_schema(RequestSerializer),
    )
    def get(self, request):
        user = request.user
        filters = QueueFilterForm(request.query_params, open_only=False)
        if filters.is_bound and not filters.is_valid():
            raise ValidationError(form_errors(filters).detail)
        requests = filters.apply(
            ProcurementRequest.objects.visible_to(user), full_text=permissions.can_view_internal(user)
        )
        page = pagination.KeysetPage(request, requests.with_queue_relations())
        return page.response(RequestSerializer(page.rows, many=True).data)

    @extend_schema(
        tags=[TAG_REQUESTS],
        summary="File a request",
        description="The portal's validation and routing: the answer is the request as filed, with its SLA clocks.",
        parameters=[IDEMPOTENCY_PARAMETER],
        request=RequestCreateSerializer,
        responses={201: RequestDetailSerializer},
    )
    def post(self, request):
        data = _body(request)
        fields = {name: data[name] for name in RequestCreateSerializer().fields if name in data}
        _typed(RequestCreateSerializer, fields)
        key = request.headers.get("Idempotency-Key")

        def perform():
            form = _bound(ProcurementRequestForm, fields)
            procurement_request, _ = services.procurement_request_submit(
                requester=request.user, **form.request_fields(), submission_token=uuid.uuid4()
            )
            filed = visible_request_or_404(request.user, procurement_request.reference)
            return 201, detail_data(request.user, filed), procurement_request

        if key is None:
            status, body, _ = perform()
            replayed = False
        else:
            if not key.strip() or len(key) > 255:
                raise ValidationError({"Idempotency-Key": ["Send 1 to 255 characters."]})
            status, body, replayed = idempotent(
                user=request.user, key=key, fingerprint=body_fingerprint(fields), perform=perform
            )
        headers = {"Location": reverse("api:request", kwargs={"reference": body["reference"]})}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(body, status=status, headers=headers)


class RequestDetailView(APIView):
    @extend_schema(
        tags=[TAG_REQUESTS],
        summary="A request with its clocks, timeline and attachments",
        responses=RequestDetailSerializer,
    )
    def get(self, request, reference):
        return Response(detail_data(request.user, visible_request_or_404(request.user, reference)))


ReplySerializer = form_serializer(CommentForm, "ReplySerializer", exclude=("attachments", "is_internal"))


class CommentCreateView(APIView):
    """A public reply (the requester sees it) or an internal note (Procurement only)."""

    is_internal = False

    def post(self, request, reference):
        procurement_request = visible_request_or_404(request.user, reference)
        data = _body(request)
        _typed(ReplySerializer, data)
        form = _bound(CommentForm, data)
        comment = services.comment_add(
            procurement_request=procurement_request,
            author=request.user,
            body=form.cleaned_data["body"],
            is_internal=self.is_internal,
        )
        return Response(CommentResultSerializer(comment).data, status=201)


_COMMENT_SCHEMA = {"tags": [TAG_REQUESTS], "request": ReplySerializer, "responses": {201: CommentResultSerializer}}
ReplyCreateView = extend_schema(
    summary="Reply (the requester sees it)",
    description="A requester's reply to a request waiting for them hands it back to Procurement.",
    **_COMMENT_SCHEMA,
)(type("ReplyCreateView", (CommentCreateView,), {"is_internal": False}))
NoteCreateView = extend_schema(summary="Internal note (Procurement only)", **_COMMENT_SCHEMA)(
    type("NoteCreateView", (CommentCreateView,), {"is_internal": True})
)


# --- Lifecycle actions: one endpoint each ---------------------------------------------------------------


def action_path(action):
    return action.replace("_", "-")


class RequestActionView(APIView):
    action = None
    serializer_class = None

    def post(self, request, reference):
        procurement_request = visible_request_or_404(request.user, reference)
        data = _body(request)
        _typed(self.serializer_class, data)
        form = action_form(self.action, data, files=MultiValueDict())
        if not form.is_valid():
            raise form_errors(form)
        action_service(self.action)(
            procurement_request=procurement_request,
            actor=request.user,
            expected_version=form.cleaned_data.get("version"),
            **action_arguments(self.action, form.cleaned_data),
        )
        return Response(detail_data(request.user, visible_request_or_404(request.user, reference)))


def _action_view(action):
    form_class = ACTION_FORMS.get(action, NoteForm)
    name = "".join(part.capitalize() for part in action.split("_"))
    exclude = ("note",) if action == "claim" else ()
    serializer = form_serializer(form_class, f"{name}ActionSerializer", exclude=exclude)
    serializer._declared_fields[
        "version"
    ].help_text = (
        "The request's `version` as you last read it: if it changed since, the action is refused (409, stale)."
    )

    # Each action's own function, so that its schema (set on the function) is its own.
    def post(self, request, reference):
        return RequestActionView.post(self, request, reference)

    documented = extend_schema(
        tags=[TAG_ACTIONS],
        summary=f"{action.replace('_', ' ').capitalize()}",
        description="Allowed to the same people, in the same statuses, as on the request page; the answer is the "
        "request afterwards.",
        request=serializer,
        responses=RequestDetailSerializer,
        operation_id=f"requests_{action}",
    )(post)
    return type(
        f"{name}ActionView",
        (RequestActionView,),
        {"action": action, "serializer_class": serializer, "post": documented},
    )


ACTION_VIEWS = {action: _action_view(action) for action in ACTION_RULES}


# --- Attachments ---------------------------------------------------------------------------------------


class AttachmentDownloadView(APIView):
    @extend_schema(
        tags=[TAG_REQUESTS],
        summary="Download an attachment",
        responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="The file.")},
    )
    def get(self, request, reference, attachment_id):
        return attachment_download(request.user, reference, attachment_id)


class AttachmentUploadSerializer(serializers.Serializer):
    files = serializers.ListField(
        child=serializers.FileField(), help_text="1 to 5 files, as on the request page: 10 MB each, allowed types."
    )
    is_internal = serializers.BooleanField(required=False, help_text="Procurement only: hidden from the requester.")


class AttachmentUploadView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        tags=[TAG_REQUESTS],
        summary="Upload attachments",
        description="multipart/form-data with one `files` part per file. The same checks as the portal: size, "
        "type, and content that matches the extension.",
        request={"multipart/form-data": AttachmentUploadSerializer},
        responses={201: AttachmentSerializer(many=True)},
    )
    def post(self, request, reference):
        procurement_request = visible_request_or_404(request.user, reference)
        form = _bound_files(AttachmentUploadForm, request)
        added = services.attachments_add(
            procurement_request=procurement_request,
            uploader=request.user,
            files=form.cleaned_data["files"],
            is_internal=form.cleaned_data["is_internal"],
        )
        attachments = [_with_request(attachment, procurement_request) for attachment in added]
        return Response(AttachmentSerializer(attachments, many=True).data, status=201)


def _bound_files(form_class, request):
    form = form_class(data=request.data, files=request.FILES)
    if not form.is_valid():
        raise form_errors(form)
    return form


# --- Reference data ----------------------------------------------------------------------------------


class CategoryListView(APIView):
    @extend_schema(tags=[TAG_REFERENCE], summary="Active categories", responses=CategorySerializer(many=True))
    def get(self, request):
        return Response(CategorySerializer(Category.objects.active(), many=True).data)


class DepartmentListView(APIView):
    @extend_schema(
        tags=[TAG_REFERENCE],
        summary="Departments whose directory page you may read",
        responses=DepartmentSerializer(many=True),
    )
    def get(self, request):
        departments = Department.objects.visible_to(request.user).select_related("head").order_by("name")
        return Response(DepartmentSerializer(departments, many=True).data)


class TeamListView(APIView):
    @extend_schema(tags=[TAG_REFERENCE], summary="Buyer teams (Procurement only)", responses=TeamSerializer(many=True))
    def get(self, request):
        if not permissions.is_procurement_staff(request.user):
            raise PermissionDenied("Only Procurement sees the buyer teams.")
        teams = (
            BuyerTeam.objects.active()
            .select_related("lead")
            .prefetch_related(Prefetch("memberships", queryset=TeamMembership.objects.select_related("user")))
        )
        for team in teams:
            team.member_list = [membership.user for membership in team.memberships.all()]
        return Response(TeamSerializer(teams, many=True).data)


class SlaPolicyListView(APIView):
    @extend_schema(
        tags=[TAG_REFERENCE],
        summary="Active SLA policies and their goals, in matching order",
        responses=SlaPolicySerializer(many=True),
    )
    def get(self, request):
        policies = policies_in_matching_order()
        return Response(SlaPolicySerializer(policies, many=True).data)


class CatalogueView(APIView):
    @extend_schema(
        tags=[TAG_REFERENCE],
        summary="The SLA catalogue: each promise with its benchmark (last 90 days)",
        responses=CataloguePolicySerializer(many=True),
    )
    def get(self, request):
        policies, _calendars = catalogue()
        return Response(
            CataloguePolicySerializer([{"policy": policy, "rows": rows} for policy, rows in policies], many=True).data
        )


# --- Notifications -----------------------------------------------------------------------------------

NOTIFICATION_ORDERINGS = {"-created_at": ("created_at", True)}


class NotificationListView(APIView):
    @extend_schema(
        tags=[TAG_ME],
        summary="Your notifications, newest first",
        parameters=[
            OpenApiParameter("unread", bool, description="Only the unread ones."),
            *[parameter for parameter in pagination.PARAMETERS if parameter.name != "ordering"],
        ],
        responses=pagination.page_schema(NotificationSerializer),
    )
    def get(self, request):
        unread = serializers.BooleanField(required=False)
        notifications = Notification.objects.in_app_for(request.user)
        if "unread" in request.query_params:
            try:
                only_unread = unread.to_internal_value(request.query_params["unread"])
            except ValidationError as error:
                raise ValidationError({"unread": error.detail}) from error
            if only_unread:
                notifications = notifications.unread()
        page = pagination.KeysetPage(request, notifications, orderings=NOTIFICATION_ORDERINGS, default="-created_at")
        return page.response(NotificationSerializer(page.rows, many=True).data)


class NotificationReadView(APIView):
    @extend_schema(tags=[TAG_ME], summary="Mark a notification read", request=None, responses=NotificationSerializer)
    def post(self, request, pk):
        # Someone else's notification is a 404, like one that does not exist.
        notification = get_object_or_404(Notification.objects.in_app_for(request.user), pk=pk)
        notification = stakeholder_services.notification_mark_read(notification=notification, user=request.user)
        return Response(NotificationSerializer(notification).data)


class NotificationsReadAllSerializer(serializers.Serializer):
    marked = serializers.IntegerField(help_text="How many were unread.")


class NotificationsReadAllView(APIView):
    @extend_schema(
        tags=[TAG_ME],
        summary="Mark all your notifications read",
        request=None,
        responses=NotificationsReadAllSerializer,
    )
    def post(self, request):
        return Response({"marked": stakeholder_services.notifications_mark_all_read(user=request.user)})


# --- The manager dashboard, for reporting tools -----------------------------------------------------------


class DashboardView(APIView):
    @extend_schema(
        tags=["Dashboard"],
        summary="The SLA dashboard's figures (procurement managers)",
        description="The same numbers as /slas/dashboard/, for the same filters; a bad filter is a 400 here.",
        parameters=[
            OpenApiParameter("period", str, enum=[value for value, _ in DashboardFilterForm.PERIODS]),
            OpenApiParameter("quarter", str, description="With period=quarter: e.g. 2026-Q3 (the last eight)."),
            OpenApiParameter("start", OpenApiTypes.DATE, description="With period=custom."),
            OpenApiParameter("end", OpenApiTypes.DATE, description="With period=custom (at most two years)."),
            OpenApiParameter("team", int),
            OpenApiParameter("department", int),
            OpenApiParameter("category", int),
            OpenApiParameter("priority", str, enum=list(Priority.values)),
        ],
        responses=DashboardSerializer,
    )
    def get(self, request):
        if not permissions.is_manager(request.user):
            raise PermissionDenied("The dashboard is for procurement managers.")
        form = DashboardFilterForm(request.query_params or None)
        if form.is_bound and not form.is_valid():
            raise ValidationError(form_errors(form).detail)
        scope = form.scope()
        figures = dashboard.manager_dashboard(scope)
        figures.api_csat = dashboard.csat_in_scope(scope)
        return Response(DashboardSerializer(figures).data)
