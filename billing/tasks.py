from celery import shared_task

from billing.services import hold_release_expired


@shared_task(name="billing.release_expired_holds", ignore_result=True)
def release_expired_holds() -> int:
    """Release holds whose request never settled (a crashed web process)."""
    return hold_release_expired()
