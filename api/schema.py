"""The OpenAPI schema: every operation documents the errors it can answer with, in the one error format."""

from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorItemSerializer(serializers.Serializer):
    field = serializers.CharField(
        allow_null=True, help_text="The body field or query parameter at fault; null for the call as a whole."
    )
    code = serializers.CharField(help_text="Machine-readable, e.g. required, invalid, not_found, throttled.")
    message = serializers.CharField(help_text="For people, in English.")


class ErrorSerializer(serializers.Serializer):
    errors = ErrorItemSerializer(many=True)


def _error(description):
    return OpenApiResponse(ErrorSerializer, description=description)


ALWAYS = {
    400: _error("The call could not be read: a query parameter is not valid (`field` names it), or malformed JSON."),
    401: _error("No valid credentials: a missing, unknown, revoked or expired token."),
    403: _error("Signed in, but not allowed to do this (or, with a session, the CSRF token is missing)."),
    406: _error("The Accept header asks for something other than JSON."),
    429: _error("Too many calls with this token; the Retry-After header says when to try again."),
}
WITH_PATH_OBJECT = {404: _error("No such object, or one you may not see (the same answer for both).")}
WITH_BODY = {
    409: _error(
        "The object's state does not allow this now (code not_allowed), someone else claimed it first "
        "(claim_conflict), or it changed since the `version` you sent (stale)."
    ),
    415: _error("The body's Content-Type is not accepted (JSON, or multipart for uploads)."),
    422: _error("The body was read but is not valid; each error names its field."),
}


class AutoSchema(openapi.AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        errors = dict(ALWAYS)
        if "{" in self.path:
            errors.update(WITH_PATH_OBJECT)
        if self.method in ("POST", "PUT", "PATCH"):
            errors.update(WITH_BODY)
        for code, response in errors.items():
            responses.setdefault(str(code), self._get_response_for_code(response, str(code), direction=direction))
        return responses
