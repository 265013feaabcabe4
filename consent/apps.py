from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "consent"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from consent import (
            checks,  # noqa: F401 - registers the system checks
            lifecycle_tasks,  # noqa: F401 - registers the lifecycle tasks
            webhooks,
        )
        from payers.signals import payer_status_changed

        payer_status_changed.connect(webhooks.payer_status_changed, dispatch_uid="consent.webhooks")

    def purge_consent(self, consent_id) -> dict[str, int]:
        """Purge registry hook (see consent.purge): payer tokens, ours, flows, Redis keys."""
        from consent.purge import purge_own_rows

        return purge_own_rows(consent_id)
