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
