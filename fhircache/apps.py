from django.apps import AppConfig


class FhircacheConfig(AppConfig):
    name = "fhircache"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The FHIR API's cross-cutting hooks (fhircache.api.access): the per-app
        # rate limit (a gate) and the data-access audit (a recorder).
        from fhircache import access_log, ratelimit
        from fhircache.api import access

        access.add_gate(ratelimit.gate)
        access.add_recorder(access_log.recorder)

    def purge_consent(self, consent_id) -> dict[str, int]:
        """Purge registry hook (consent.purge): the consent's cached resources and index,
        quarantined resources and stored outcomes, deleted in batches by the repository."""
        from fhircache.repository import delete_consent_data

        return delete_consent_data(consent_id)
