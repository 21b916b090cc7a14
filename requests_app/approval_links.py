"""One-click approval: the signed links an approver gets in the approval-waiting notice.

A link names one decision (approve or reject) on one request, for one approver, at the request's
version when the notice was written, and is signed with the site's secret key and a timestamp
(`django.core.signing`, salted for this purpose alone). It expires after
APPROVAL_LINK_MAX_AGE seconds. It only opens a confirmation page: the decision is a POST through
the same service as the request page's buttons, with the link's version as the expected version, so a
request that changed or was decided since the notice refuses it.
"""

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils.translation import gettext, gettext_lazy, ngettext

from . import permissions
from .models import ProcurementRequest, Status
from .notifications import STATUS_LABELS

SALT = "requests_app.approval_links"
DECISIONS = ("approve", "reject")


def _not_valid():
    # A function, not a constant: the message is read in the language active when it is raised.
    return gettext("This approval link is not valid: it may have been cut short or changed.")


class InvalidLink(Exception):
    """The link cannot be used; `message` says why, and `procurement_request` is the request it names,
    when the user may see it (for a link back to its page)."""

    def __init__(self, message, *, procurement_request=None, status=400):
        super().__init__(message)
        self.message = message
        self.procurement_request = procurement_request
        self.status = status


def approval_link_path(*, procurement_request, approver, decision) -> str:
    """The path of a signed link that lets `approver` confirm `decision` on the request as it is now."""
    if decision not in DECISIONS:
        raise ValueError(f"Unknown decision {decision!r}")
    token = signing.dumps(
        {
            "request": procurement_request.pk,
            "user": approver.pk,
            "version": procurement_request.version,
            "decision": decision,
        },
        salt=SALT,
    )
    return reverse("requests_app:approval_link", kwargs={"token": token})


def approval_link_actions(*, procurement_request, approver):
    """(label, path) pairs for the notice: Approve and Reject, each a signed link."""
    return [
        (
            gettext_lazy("Approve"),
            approval_link_path(procurement_request=procurement_request, approver=approver, decision="approve"),
        ),
        (
            gettext_lazy("Reject"),
            approval_link_path(procurement_request=procurement_request, approver=approver, decision="reject"),
        ),
    ]


def approval_link_open(*, token, user):
    """(request, decision, version) the link stands for, if `user` may still use it; else InvalidLink.

    Reads only: checked again, under the row lock, by the service the confirmation calls.
    """
    try:
        claims = signing.loads(token, salt=SALT, max_age=settings.APPROVAL_LINK_MAX_AGE)
    except signing.SignatureExpired:
        days = settings.APPROVAL_LINK_MAX_AGE // 86400
        message = (
            ngettext(
                "This approval link has expired (links are valid for %(days)d day). Decide on the request page "
                "instead.",
                "This approval link has expired (links are valid for %(days)d days). Decide on the request page "
                "instead.",
                days,
            )
            % {"days": days}
            if days
            else gettext("This approval link has expired. Decide on the request page instead.")
        )
        raise InvalidLink(message, status=410) from None
    except signing.BadSignature:
        raise InvalidLink(_not_valid()) from None
    if not isinstance(claims, dict) or claims.get("decision") not in DECISIONS:
        raise InvalidLink(_not_valid())
    procurement_request = (
        ProcurementRequest.objects.visible_to(user)
        .select_related("category", "requester", "department", "currency")
        .filter(pk=claims.get("request"))
        .first()
    )
    if claims.get("user") != user.pk:
        # Nothing about the request: the link was not written for this person.
        raise InvalidLink(
            gettext(
                "This approval link was sent to someone else. Sign in as the person it was sent to, or decide on "
                "the request page if you are its approver."
            ),
            procurement_request=procurement_request,
            status=403,
        )
    if procurement_request is None:
        raise InvalidLink(
            gettext("The request of this approval link no longer exists, or you may not see it."), status=404
        )
    reference = procurement_request.reference
    if procurement_request.status == Status.PENDING_APPROVAL and not permissions.can_perform(
        user, claims["decision"], procurement_request
    ):
        raise InvalidLink(
            gettext("You can no longer decide on %(reference)s.") % {"reference": reference},
            procurement_request=procurement_request,
            status=403,
        )
    if procurement_request.status != Status.PENDING_APPROVAL:
        status = str(STATUS_LABELS.get(procurement_request.status, procurement_request.status)).lower()
        raise InvalidLink(
            gettext("%(reference)s is already decided: it is %(status)s now. Nothing was changed.")
            % {"reference": reference, "status": status},
            procurement_request=procurement_request,
            status=409,
        )
    if procurement_request.version != claims.get("version"):
        raise InvalidLink(
            gettext(
                "%(reference)s changed since this link was sent. Look at it again on the request page before "
                "you decide."
            )
            % {"reference": reference},
            procurement_request=procurement_request,
            status=409,
        )
    return procurement_request, claims["decision"], claims["version"]
