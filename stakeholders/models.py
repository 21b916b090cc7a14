from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


class DepartmentQuerySet(models.QuerySet):
    def active(self):
        """Departments that can file requests today."""
        return self.filter(is_active=True)

    def headed_by(self, user):
        return self.filter(head=user)


class Department(models.Model):
    """An internal customer of Procurement (Procurement itself is one too)."""

    name = models.CharField(max_length=100, unique=True)
    code = models.SlugField(max_length=20, unique=True, help_text="Short code, e.g. SALES.")
    head = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="headed_departments",
        help_text="Approves the department's requests above the category threshold.",
    )
    contacts = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="stakeholder_for",
        help_text="Named stakeholder contacts Procurement talks to.",
    )
    is_procurement = models.BooleanField(default=False, help_text="The department whose staff work the requests.")
    is_active = models.BooleanField(default=True)

    objects = DepartmentQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(Lower("code"), name="department_code_ci_unique"),
        ]

    def __str__(self):
        return self.name


class Membership(models.Model):
    """The one department a user belongs to."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="members")
    job_title = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["department__name", "user__username"]

    def __str__(self):
        return f"{self.user} – {self.department}"


def validate_time_zone(value):
    """An IANA time zone name that this machine's zone database knows (blank is allowed by the field)."""
    if not value:
        return
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValidationError(
            "“%(value)s” is not a known time zone; use an IANA name such as Europe/Berlin.",
            code="invalid_time_zone",
            params={"value": value},
        ) from error


class Profile(models.Model):
    """A person's own settings: where they work from and when they are out of office."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text="IANA time zone, e.g. Europe/Berlin. Blank: the desk's time zone.",
    )
    away_until = models.DateField(
        "out of office until",
        null=True,
        blank=True,
        help_text="Out of office up to and including this date; routing gives them nothing new until the day after.",
    )

    class Meta:
        ordering = ["user__username"]

    def __str__(self):
        return f"Profile of {self.user}"

    def is_away(self, on=None):
        """Out of office on `on` (the desk's today by default): dates are the desk's calendar dates."""
        return self.away_until is not None and self.away_until >= (on or timezone.localdate())

    @property
    def zone(self):
        return ZoneInfo(self.time_zone or settings.TIME_ZONE)


def profile_for(user) -> Profile:
    """The user's profile, or an unsaved one with the defaults: reading never writes."""
    try:
        return user.profile
    except Profile.DoesNotExist:
        return Profile(user=user)
