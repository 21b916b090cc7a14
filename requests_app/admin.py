from django.contrib import admin

from .models import Attachment, Category, Comment, Currency, ProcurementRequest, ReferenceCounter, RequestEvent


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
