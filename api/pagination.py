"""Keyset ("cursor") pagination in the queue's order: a page costs the same at any depth, and rows
inserted meanwhile neither repeat nor vanish from the pages still to come."""

import base64
import binascii
import json
from datetime import datetime

from django.db.models import F, Q
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100

# ordering value -> (field, descending); every ordering ends with the id, which makes it total. The SLA
# due time is nullable: requests without one (paused, not started) come after every real one.
ORDERINGS = {
    "sla_due_at": ("sla_due_at", False),
    "-created_at": ("created_at", True),
    "-updated_at": ("updated_at", True),
}
DEFAULT_ORDERING = "sla_due_at"


def _ordered(queryset, field, descending):
    if descending:
        return queryset.order_by(F(field).desc(), "-id")
    return queryset.order_by(F(field).asc(nulls_last=True), "id")


def _after(field, descending, value, pk):
    """The rows after (value, pk) in that order."""
    if descending:
        return Q(**{f"{field}__lt": value}) | Q(**{field: value, "id__lt": pk})
    if value is None:  # already among the rows without a due time
        return Q(**{f"{field}__isnull": True, "id__gt": pk})
    return Q(**{f"{field}__gt": value}) | Q(**{field: value, "id__gt": pk}) | Q(**{f"{field}__isnull": True})


def _encode(ordering, value, pk):
    raw = json.dumps([ordering, value.isoformat() if value else None, pk]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor, ordering):
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        cursor_ordering, value, pk = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if cursor_ordering != ordering or not isinstance(pk, int):
            raise ValueError
        return (datetime.fromisoformat(value) if value is not None else None), pk
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as error:
        raise ValidationError(
            {"cursor": ["Not a cursor of this list (and ordering); use the `next` link as given."]}, code="invalid"
        ) from error


class PageParamsSerializer(serializers.Serializer):
    ordering = serializers.ChoiceField(choices=list(ORDERINGS), required=False)
    page_size = serializers.IntegerField(min_value=1, max_value=MAX_PAGE_SIZE, required=False)
    cursor = serializers.CharField(required=False, max_length=500)


PARAMETERS = [
    OpenApiParameter(
        "ordering",
        str,
        enum=list(ORDERINGS),
        description="sla_due_at (default): the queue's order, most urgent first, no due time last.",
    ),
    OpenApiParameter("page_size", int, description=f"1–{MAX_PAGE_SIZE}, default {DEFAULT_PAGE_SIZE}."),
    OpenApiParameter("cursor", str, description="From the previous page's `next` link."),
]


class KeysetPage:
    """A page of `queryset`, ordered by the `ordering` query parameter, after the `cursor` parameter."""

    def __init__(self, request, queryset, *, orderings=ORDERINGS, default=DEFAULT_ORDERING):
        params = PageParamsSerializer(data=request.query_params)
        params.fields["ordering"].choices = list(orderings)
        if not params.is_valid():
            raise ValidationError(params.errors)
        ordering = params.validated_data.get("ordering") or default
        size = params.validated_data.get("page_size") or DEFAULT_PAGE_SIZE
        field, descending = orderings[ordering]
        rows = _ordered(queryset, field, descending)
        if "cursor" in params.validated_data:
            value, pk = _decode(params.validated_data["cursor"], ordering)
            rows = rows.filter(_after(field, descending, value, pk))
        fetched = list(rows[: size + 1])
        self.rows = fetched[:size]
        self.next_url = None
        if len(fetched) > size:
            last = self.rows[-1]
            url = request.build_absolute_uri()
            self.next_url = replace_query_param(url, "cursor", _encode(ordering, getattr(last, field), last.pk))

    def response(self, data):
        return Response({"next": self.next_url, "results": data})


def page_schema(item_serializer):
    """The schema of a page of `item_serializer` rows."""
    name = item_serializer.__name__.removesuffix("Serializer")
    return type(
        f"{name}PageSerializer",
        (serializers.Serializer,),
        {
            "next": serializers.URLField(allow_null=True, help_text="The next page; null on the last."),
            "results": item_serializer(many=True),
        },
    )
