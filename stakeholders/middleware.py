"""Show every time in the viewer's own time zone."""

import zoneinfo

from django.utils import timezone

# The zone is kept in the session (set at login and when the person changes it), so that showing
# times costs no query per page.
SESSION_KEY = "time_zone"


def session_time_zone_set(request, time_zone):
    """Remember the person's time zone for this session ('' = the desk's)."""
    request.session[SESSION_KEY] = time_zone or ""


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
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
