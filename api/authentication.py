"""`Authorization: Bearer <token>`: a personal API token acts as its owner."""

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from .models import ApiToken, token_hash
from .services import api_token_touch


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None  # not ours: the session may still authenticate the call
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send the header as “Authorization: Bearer <token>”.")
        try:
            raw = header[1].decode()
        except UnicodeDecodeError as error:
            raise exceptions.AuthenticationFailed("The token is not valid.") from error
        token = (
            ApiToken.objects.usable(timezone.now())
            .select_related("user")
            .filter(key_hash=token_hash(raw), user__is_active=True)
            .first()
        )
        if token is None:
            # One answer for unknown, revoked, expired and inactive: none tells an attacker more.
            raise exceptions.AuthenticationFailed("The token is not valid (unknown, revoked or expired).")
        api_token_touch(token)
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword  # makes a missing or bad token a 401 with WWW-Authenticate, not a 403


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token from *My settings* → *API tokens*.",
        }
