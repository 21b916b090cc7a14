from django.conf import settings
from django.db import models
from django.db.models.functions import Lower


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
