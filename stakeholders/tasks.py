from celery import shared_task

from . import services


# Below the global limits: one e-mail needs at most the SMTP timeout (EMAIL_TIMEOUT, 30 s).
@shared_task(name="stakeholders.deliver_notification", soft_time_limit=60, time_limit=90)
def deliver_notification(notification_id):
    """Send one e-mail notification (idempotent: a second run finds it sent or claimed)."""
    return services.notification_deliver(notification_id=notification_id)


@shared_task(name="stakeholders.sweep_relation_reminders")
def sweep_relation_reminders():
    """Periodic: overdue action items remind their owner, passed agreement review dates the procurement
    managers, once each (idempotent: a unique key per reminder; returns how many fired)."""
    from .relations import relations_reminders_sweep

    result = relations_reminders_sweep()
    return {"action_items": result.action_items, "agreement_reviews": result.agreement_reviews}


@shared_task(name="stakeholders.sweep_survey_reminders")
def sweep_survey_reminders():
    """Periodic: unanswered satisfaction surveys remind their requester, overdue follow-ups of low scores
    their owner, once each (idempotent: a unique key per reminder; returns how many fired)."""
    from .surveys import survey_reminders_sweep

    result = survey_reminders_sweep()
    return {"surveys": result.surveys, "follow_ups": result.follow_ups}


@shared_task(name="stakeholders.open_relationship_surveys")
def open_relationship_surveys():
    """Periodic: open the relationship survey rounds that are due and tell each department's staff
    (idempotent: one round per department and day; returns how many opened)."""
    from .surveys import relationship_surveys_open

    return relationship_surveys_open()


@shared_task(name="stakeholders.send_digests")
def send_digests(kind):
    """Periodic: send the `kind` digest (weekly digest, department scorecard, manager summary) for the
    current period (idempotent: one per person and period; returns how many people it reached)."""
    from .digests import digests_send

    return digests_send(kind=kind)
