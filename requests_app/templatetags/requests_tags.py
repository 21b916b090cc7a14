from datetime import timedelta

from django import template
from django.forms.utils import flatatt
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince

from requests_app.models import Priority, Status
from requests_app.routing import conditions_in_words
from stakeholders.models import profile_for

register = template.Library()

STATUS_STYLES = {
    Status.SUBMITTED: "text-bg-secondary",
    Status.PENDING_APPROVAL: "text-bg-warning",
    Status.APPROVED: "text-bg-info",
    Status.REJECTED: "text-bg-danger",
    Status.ASSIGNED: "text-bg-info",
    Status.IN_PROGRESS: "text-bg-primary",
    Status.WAITING_FOR_REQUESTER: "text-bg-warning",
    Status.WAITING_FOR_SUPPLIER: "text-bg-light border",
    Status.ORDERED: "text-bg-primary",
    Status.COMPLETED: "text-bg-success",
    Status.CLOSED: "text-bg-dark",
    Status.CANCELLED: "text-bg-light border text-decoration-line-through",
}
PRIORITY_STYLES = {
    Priority.LOW: "text-body-secondary",
    Priority.NORMAL: "",
    Priority.HIGH: "text-warning-emphasis fw-semibold",
    Priority.URGENT: "text-danger fw-bold",
}


@register.simple_tag
def status_badge(status):
    return format_html(
        '<span class="badge {}">{}</span>', STATUS_STYLES.get(status, "text-bg-light"), Status(status).label
    )


@register.simple_tag
def priority_label(priority):
    return format_html('<span class="{}">{}</span>', PRIORITY_STYLES.get(priority, ""), Priority(priority).label)


@register.filter
def person(user):
    """A person's display name, or 'the service desk' for automatic actions."""
    if user is None:
        return "Service desk"
    return user.get_full_name() or user.username


@register.filter
def age(moment):
    """How long ago, in its largest unit only ('3 days'), for dense tables."""
    if timezone.now() - moment < timedelta(minutes=1):
        return "just now"
    return timesince(moment, depth=1)


@register.filter
def rule_conditions(rule):
    """A routing rule's conditions in words, joined with "and"."""
    return " and ".join(conditions_in_words(rule))


@register.filter
def away_until(user):
    """The date a person is out of office until, if they are out today; else None."""
    if user is None:
        return None
    profile = profile_for(user)
    return profile.away_until if profile.is_away() else None


@register.simple_tag
def compact_select(bound_field):
    """A <select> for a choice field, rendered in one pass: Django's widget templates render each option
    through two template includes, which on a page with a dozen filters costs more than the rows."""
    widget = bound_field.field.widget
    attrs = {**widget.attrs, "name": bound_field.html_name, "id": bound_field.id_for_label}
    current = bound_field.value()
    current = {str(value) for value in current} if isinstance(current, list | tuple) else {str(current or "")}
    options = format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        ((value, " selected" if str(value) in current else "", label) for value, label in bound_field.field.choices),
    )
    return format_html("<select{}>{}</select>", flatatt(attrs), options)
