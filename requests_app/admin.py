from django.contrib import admin
from django.db.models import Count

from .models import (
    Attachment,
    BuyerTeam,
    Category,
    Comment,
    Currency,
    ProcurementRequest,
    ReferenceCounter,
    RequestEvent,
    RoutingRule,
    TeamMembership,
)
from .routing import conditions_in_words


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "approval_threshold", "is_active", "position"]
    list_editable = ["approval_threshold", "is_active", "position"]
    list_filter = ["is_active"]
    search_fields = ["name", "description"]


@admin.register(Currency)
class CurrencyAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "rate_to_base", "is_active"]
    list_editable = ["rate_to_base", "is_active"]
    search_fields = ["code", "name"]


class ViewOnlyAdmin(admin.ModelAdmin):
    """Rows written by the services only (timelines, clocks): the admin shows them, never edits."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class EventInline(ReadOnlyInline):
    model = RequestEvent
    fields = ["created_at", "kind", "actor", "from_status", "to_status", "assignee", "note", "is_internal"]
    readonly_fields = fields


class CommentInline(ReadOnlyInline):
    model = Comment
    fields = ["created_at", "author", "is_internal", "body"]
    readonly_fields = fields


class AttachmentInline(ReadOnlyInline):
    model = Attachment
    fields = ["created_at", "uploaded_by", "original_name", "content_type", "size", "is_internal"]
    readonly_fields = fields


@admin.register(ProcurementRequest)
class ProcurementRequestAdmin(ViewOnlyAdmin):
    """View-only: every change to a request goes through its services (approval, numbering, the
    timeline), which the request page and its actions call."""

    list_display = ["reference", "title", "department", "category", "priority", "status", "assignee", "created_at"]
    list_filter = ["status", "priority", "category", "department", "is_confidential"]
    search_fields = ["reference", "title", "description", "requester__username", "po_number"]
    list_select_related = ["department", "category", "assignee"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "reference",
        "status",
        "assignee",
        "team",
        "routed_by",
        "requester",
        "department",
        "estimated_value_base",
        "requires_approval",
        "po_number",
        "created_at",
        "updated_at",
        "completed_at",
    ]
    fields = [
        "reference",
        "title",
        "description",
        "category",
        "priority",
        ("estimated_value", "currency", "estimated_value_base"),
        "cost_centre",
        "needed_by",
        "suggested_supplier",
        "is_confidential",
        ("status", "assignee", "po_number"),
        ("team", "routed_by"),
        ("requester", "department", "requires_approval"),
        ("created_at", "updated_at", "completed_at"),
    ]
    inlines = [EventInline, CommentInline, AttachmentInline]


@admin.register(RequestEvent)
class RequestEventAdmin(ViewOnlyAdmin):
    list_display = ["procurement_request", "kind", "actor", "from_status", "to_status", "created_at"]
    list_filter = ["kind", "to_status"]
    search_fields = ["procurement_request__reference", "note"]
    list_select_related = ["procurement_request", "actor"]


@admin.register(Comment)
class CommentAdmin(ViewOnlyAdmin):
    list_display = ["procurement_request", "author", "is_internal", "created_at"]
    list_filter = ["is_internal"]
    search_fields = ["procurement_request__reference", "body", "author__username"]
    list_select_related = ["procurement_request", "author"]
    readonly_fields = ["procurement_request", "author", "body", "is_internal", "created_at"]


@admin.register(Attachment)
class AttachmentAdmin(ViewOnlyAdmin):
    list_display = ["original_name", "procurement_request", "uploaded_by", "content_type", "size", "created_at"]
    list_filter = ["content_type", "is_internal"]
    search_fields = ["original_name", "procurement_request__reference"]
    list_select_related = ["procurement_request", "uploaded_by"]
    # The file itself is not linked: downloads go through the permission-checked view.
    fields = ["procurement_request", "comment", "uploaded_by", "original_name", "content_type", "size", "is_internal"]
    readonly_fields = fields


@admin.register(ReferenceCounter)
class ReferenceCounterAdmin(ViewOnlyAdmin):
    """Shown so that an administrator can see the last number issued per year; never edited by hand."""

    list_display = ["year", "last_number"]


class TeamMembershipInline(admin.TabularInline):
    model = TeamMembership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(BuyerTeam)
class BuyerTeamAdmin(admin.ModelAdmin):
    list_display = ["name", "lead", "calendar", "member_count", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name", "description"]
    autocomplete_fields = ["lead"]
    readonly_fields = ["last_assigned"]
    inlines = [TeamMembershipInline]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("lead", "calendar").annotate(members_count=Count("members"))

    @admin.display(description="members", ordering="members_count")
    def member_count(self, team):
        return team.members_count


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    """Rules are reference data like categories; the model's constraints and clean() keep the default sound.

    The manager page (/requests/routing/) offers the same with a dry run.
    """

    list_display = ["position", "name", "conditions", "team", "strategy", "is_active", "is_default"]
    list_display_links = ["name"]
    list_editable = ["position", "is_active"]
    list_filter = ["is_active", "strategy", "team"]
    search_fields = ["name", "title_keywords"]
    list_select_related = ["category", "department", "currency", "team"]
    readonly_fields = ["is_default"]
    fieldsets = [
        (None, {"fields": ["name", "position", "is_active", "is_default"]}),
        (
            "Conditions (every one that is set must hold)",
            {"fields": ["category", "department", ("min_value", "max_value"), "currency", "title_keywords"]},
        ),
        ("Where it goes", {"fields": ["team", "strategy"]}),
    ]

    @admin.display(description="when")
    def conditions(self, rule):
        return " and ".join(conditions_in_words(rule))

    def has_delete_permission(self, request, obj=None):
        # The default rule catches every request nothing else matches: it stays.
        return super().has_delete_permission(request, obj) and not (obj is not None and obj.is_default)

    def get_actions(self, request):
        # "Delete selected" does not ask per row, so it could delete the default rule.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions
