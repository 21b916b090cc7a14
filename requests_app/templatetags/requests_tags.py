import html

from django import template
from django.forms.utils import flatatt
from django.forms.widgets import Input
from django.template.defaultfilters import date, floatformat, urlencode
from django.utils import timezone, translation
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeData, mark_safe

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


# Badge HTML by (value, language): a queue page shows the same few statuses and priorities on every row.
_LABELS_HTML = {}


def _label_html(kind, value, css):
    key = (kind, value, translation.get_language())
    html_text = _LABELS_HTML.get(key)
    if html_text is None:
        html_text = _LABELS_HTML[key] = format_html(css, (Status if kind == "status" else Priority)(value).label)
    return html_text


@register.simple_tag
def status_badge(status):
    css = STATUS_STYLES.get(status, "text-bg-light")
    return _label_html("status", status, f'<span class="badge {css}">{{}}</span>')


@register.simple_tag
def priority_label(priority):
    return _label_html("priority", priority, f'<span class="{PRIORITY_STYLES.get(priority, "")}">{{}}</span>')


@register.filter
def person(user):
    """A person's display name, or 'the service desk' for automatic actions."""
    if user is None:
        return "Service desk"
    return user.get_full_name() or user.username


# Largest unit first: (seconds in it, singular, plural). Months and years are approximate, as an age is.
AGE_UNITS = (
    (365 * 86400, "year", "years"),
    (30 * 86400, "month", "months"),
    (7 * 86400, "week", "weeks"),
    (86400, "day", "days"),
    (3600, "hour", "hours"),
    (60, "minute", "minutes"),
)


@register.filter
def age(moment):
    """How long ago, in its largest unit only ('3 days'), for dense tables. Plain arithmetic rather
    than `timesince`, whose calendar-exact months cost more than the rest of a queue row."""
    seconds = (timezone.now() - moment).total_seconds()
    for size, one, many in AGE_UNITS:
        if seconds >= size:
            count = int(seconds // size)
            return f"{count}\u00a0{one if count == 1 else many}"
    return "just now"


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
def filter_field(bound_field):
    """A queue filter: its label, its control and its errors, in one pass (a template included once per
    filter cost a fifth of the queue page)."""
    if bound_field.widget_type == "select":
        control = compact_select(bound_field)
    elif isinstance(bound_field.field.widget, Input):
        control = compact_input(bound_field)
    else:
        control = bound_field.as_widget()
    errors = format_html_join("", "<div>{}</div>", ((error,) for error in bound_field.errors))
    return format_html(
        '<label class="form-label small mb-0 text-body-secondary" for="{}">{}</label>{}{}',
        bound_field.id_for_label,
        bound_field.label,
        control,
        format_html('<div class="small text-danger" id="{}_error">{}</div>', bound_field.auto_id, errors)
        if bound_field.errors
        else "",
    )


def compact_input(bound_field):
    """An <input> rendered in one pass, with what BoundField.as_widget() would give it (the widget's and the
    field's attributes, required, aria-invalid and aria-describedby naming the error beside it): Django's
    widget templates render each input through three includes, and the queue page has ten of them."""
    widget = bound_field.field.widget
    attrs = {**widget.attrs, **bound_field.build_widget_attrs({}, widget)}
    input_type = attrs.pop("type", widget.input_type)
    attrs = {"type": input_type, "name": bound_field.html_name, "id": bound_field.id_for_label, **attrs}
    value = widget.format_value(bound_field.value())
    if value is not None:
        attrs["value"] = str(value)
    return mark_safe(f"<input{flatatt(attrs)}>")  # flatatt escapes every value


@register.simple_tag
def compact_select(bound_field):
    """A <select> for a choice field, rendered in one pass: Django's widget templates render each option
    through two template includes, which on a page with a dozen filters costs more than the rows."""
    widget = bound_field.field.widget
    attrs = {**widget.attrs, "name": bound_field.html_name, "id": bound_field.id_for_label}
    current = bound_field.value()
    current = {str(value) for value in current} if isinstance(current, list | tuple) else {str(current or "")}
    options = "".join(
        f'<option value="{_text(value)}"{" selected" if str(value) in current else ""}>{_text(label)}</option>'
        for value, label in bound_field.field.choices
    )
    return mark_safe(f"<select{flatatt(attrs)}>{options}</select>")  # every part escaped above


def _text(value):
    """HTML-escaped text, exactly as Django's escape() but without its lazy-string wrapper (these tags
    escape a few hundred values per queue page); safe strings, already HTML, pass as they are."""
    return value if isinstance(value, SafeData) else html.escape(str(value))


# A queue row, written here rather than as an included template: a buyer's page repeats it 25 to 100
# times, and Django's template engine spent more on the rows than on everything else the page does
# (bench/README.md). One cell per line, in the order of the table's header in queue.html.
QUEUE_ROW_CELLS = (
    '<td><input class="form-check-input row-check" type="checkbox" name="rows" value="{reference}:{version}" '
    'form="bulk-form" aria-label="Select {reference}"></td>',
    '<td class="text-nowrap"><span class="badge sla-badge {badge_css}" data-sla-state="{badge_state}"{badge_title}>'
    "{badge_text}</span></td>",
    '<td class="text-nowrap"><a class="row-link" href="{detail_url}">{reference}</a></td>',
    '<td class="title-cell">{title}{confidential}</td>',
    "<td>{department}</td>",
    "<td>{category}</td>",
    "<td>{priority}</td>",
    '<td class="text-end text-nowrap">{value} {currency}</td>',
    '<td class="assignee-cell">{assignee}{team}</td>',
    '<td class="status-cell">{status}</td>',
    '<td class="text-nowrap" title="{created}">{age}</td>',
    '<td class="text-end text-nowrap">{claim}{actions}</td>',
)
QUEUE_ROW = (
    '<tr id="row-{reference}" class="queue-row" data-reference="{reference}" data-version="{version}" '
    'data-href="{detail_url}"{oob}>' + "".join(QUEUE_ROW_CELLS) + "</tr>"
)
CLAIM_FORM = (
    '<form class="d-inline" method="post" action="{url}" hx-post="{url}" hx-target="closest tr" hx-swap="outerHTML">'
    '<input type="hidden" name="csrfmiddlewaretoken" value="{csrf_token}">'
    '<input type="hidden" name="version" value="{version}"><input type="hidden" name="respond_with" value="row">'
    '<input type="hidden" name="next" value="{next_url}">'
    '<button class="btn btn-sm btn-primary claim-button" type="submit">Claim</button></form> '
)
# Without JavaScript the link opens the request page and its action forms.
ACTIONS_LINK = (
    '<a class="btn btn-sm btn-outline-secondary" href="{detail_url}#actions" hx-get="{url}?next={next}" '
    'hx-target="#queue-action-body" data-bs-toggle="modal" data-bs-target="#queue-action-modal" '
    'aria-label="Actions for {reference}" title="Actions"><i class="bi bi-three-dots" aria-hidden="true"></i></a>'
)


def _html(template, **values):
    """format_html() for the row's many small pieces: every value escaped by _text (a lazy-free escape)."""
    return mark_safe(template.format_map({name: _text(value) for name, value in values.items()}))


def _assignee_cell(procurement_request):
    assignee = procurement_request.assignee
    if assignee is None:
        return mark_safe('<span class="text-body-secondary">—</span>')
    if not procurement_request.assignee_is_away:
        return person(assignee)
    return format_html(
        '{} <span class="badge text-bg-warning" title="Out of office until {}"><i class="bi bi-airplane" '
        'aria-hidden="true"></i> away</span>',
        person(assignee),
        date(procurement_request.assignee_away_until, "D j M"),
    )


@register.simple_tag(takes_context=True)
def queue_row(context, row, oob=False):
    """One queue row (requests_app.queue.QueueRow); `oob`: swapped out of band, by its id."""
    pr, badge, next_url = row.procurement_request, row.badge, context.get("next_url", "")
    links = row.links
    claim = ""
    if row.can_claim:
        claim = _html(
            CLAIM_FORM,
            url=links["claim"],
            csrf_token=context.get("csrf_token", ""),
            version=pr.version,
            next_url=next_url,
        )
    actions = ""
    if row.actions:
        actions = _html(
            ACTIONS_LINK,
            detail_url=links["detail"],
            url=links["actions"],
            next=urlencode(next_url),
            reference=pr.reference,
        )
    values = {
        "reference": pr.reference,
        "version": pr.version,
        "detail_url": links["detail"],
        "oob": mark_safe(' hx-swap-oob="true"') if oob else "",
        "badge_css": badge.css,
        "badge_state": badge.state,
        "badge_title": _html(' title="{title}"', title=badge.title) if badge.title else "",
        "badge_text": badge.text,
        "title": pr.title,
        "confidential": mark_safe(
            ' <i class="bi bi-lock-fill text-body-secondary" title="Confidential" aria-label="Confidential"></i>'
        )
        if pr.is_confidential
        else "",
        "department": pr.department.name,
        "category": pr.category.name,
        "priority": priority_label(pr.priority),
        "value": floatformat(pr.estimated_value, "-2g"),
        "currency": pr.currency_id,
        "assignee": _assignee_cell(pr),
        "team": _html('<div class="small text-body-secondary">{name}</div>', name=pr.team.name) if pr.team else "",
        "status": status_badge(pr.status),
        "created": f"{timezone.localtime(pr.created_at):%Y-%m-%d %H:%M}",
        "age": age(pr.created_at),
        "claim": claim,
        "actions": actions,
    }
    return _html(QUEUE_ROW, **values)
