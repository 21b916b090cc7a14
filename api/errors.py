"""One error format for every API answer that is not a success:

    {"errors": [{"field": "title" | null, "code": "required", "message": "This field is required."}]}

The services' exceptions are mapped here, once: PermissionDenied → 403, a missing or invisible object
→ 404, ActionNotAllowed (and its ClaimConflict, StaleRequest) → 409, a service's ValidationError → 422.
"""

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.exceptions import ErrorDetail
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from requests_app.services import ActionNotAllowed, ClaimConflict, StaleRequest

from .services import IdempotencyKeyReused

API_PREFIX = "/api/"


def error(message, *, code, field=None):
    return {"field": field, "code": code, "message": str(message)}


def errors_body(errors):
    return {"errors": list(errors)}


def _flatten(detail, field=None):
    """DRF's full error details (nested dicts and lists of {message, code}) as a flat list."""
    if isinstance(detail, dict) and set(detail) == {"message", "code"}:
        return [error(detail["message"], code=detail["code"], field=field)]
    if isinstance(detail, dict):
        flat = []
        for name, inner in detail.items():
            inner_field = None if name in ("non_field_errors", "__all__") else name
            flat += _flatten(inner, f"{field}.{inner_field}" if field and inner_field else inner_field or field)
        return flat
    if isinstance(detail, list):
        return [item for inner in detail for item in _flatten(inner, field)]
    return [error(detail, code="error", field=field)]


class Unprocessable(exceptions.ValidationError):
    """The body was read but is not acceptable: a form's or a service's validation failed."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def form_errors(form):
    """A Django form's errors as an Unprocessable, field by field (codes as the form gives them)."""
    detail = {
        name: [ErrorDetail(item.message % (item.params or {}), code=item.code or "invalid") for item in items.data]
        for name, items in form.errors.items()
    }
    return Unprocessable(detail)


def _django_validation_error(exc):
    if hasattr(exc, "error_dict"):
        detail = {
            name: [ErrorDetail(message, code=item.code or "invalid") for item in items for message in item]
            for name, items in exc.error_dict.items()
        }
    else:
        detail = [ErrorDetail(message, code=item.code or "invalid") for item in exc.error_list for message in item]
    return Unprocessable(detail)


def _conflict_code(exc):
    if isinstance(exc, ClaimConflict):
        return "claim_conflict"
    if isinstance(exc, StaleRequest):
        return "stale"
    return "not_allowed"


def _as_api_exception(exc):
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, PermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, ActionNotAllowed):
        return Conflict(str(exc), code=_conflict_code(exc))
    if isinstance(exc, DjangoValidationError):
        return _django_validation_error(exc)
    if isinstance(exc, IdempotencyKeyReused):
        return Unprocessable(
            {
                "Idempotency-Key": [
                    ErrorDetail(
                        "This Idempotency-Key was used with a different body; use a new key.",
                        code="idempotency_key_reused",
                    )
                ]
            }
        )
    return exc


def exception_handler(exc, context):
    """DRF's handler, answering in our format (and knowing the services' exceptions)."""
    exc = _as_api_exception(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a bug: Django's 500 handler answers (in JSON under /api/)
    response.data = errors_body(_flatten(exc.get_full_details()))
    return response


def json_error_response(status_code, message, code):
    return JsonResponse(errors_body([error(message, code=code)]), status=status_code)


def not_found(request, exception=None):
    """The 404 for a URL nothing answers: JSON under /api/, the site's page elsewhere."""
    if request.path.startswith(API_PREFIX):
        return json_error_response(404, "Not found.", "not_found")
    return defaults.page_not_found(request, exception)


def server_error(request):
    if request.path.startswith(API_PREFIX):
        return json_error_response(500, "Something went wrong on our side; it has been logged.", "server_error")
    return defaults.server_error(request)


def error_response(status_code, errors):
    return Response(errors_body(errors), status=status_code)
