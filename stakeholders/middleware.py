"""Show every time in the viewer's own time zone, and the pages in their own language."""

import zoneinfo

from django.conf import settings
from django.utils import timezone, translation

# The zone and the language are kept in the session (set at login and when the person changes
# them), so that showing times and translating pages costs no query per page.
SESSION_KEY = "time_zone"
LANGUAGE_SESSION_KEY = "language"


def session_time_zone_set(request, time_zone):
    """Remember the person's time zone for this session ('' = the desk's)."""
    request.session[SESSION_KEY] = time_zone or ""


def session_language_set(request, language):
    """Remember the person's language for this session ('' = what the browser asks for, else the desk's)."""
    request.session[LANGUAGE_SESSION_KEY] = language or ""


class TimeZoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
        try:
            zone = zoneinfo.ZoneInfo(name) if name else None
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = None  # a zone the system no longer knows: the desk's, rather than an error page
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        # After LocaleMiddleware (which follows the browser): a language the person chose wins.
        language = request.session.get(LANGUAGE_SESSION_KEY) if hasattr(request, "session") else None
        if language and language in dict(settings.LANGUAGES):
            translation.activate(language)
            request.LANGUAGE_CODE = language
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
