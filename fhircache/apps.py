from django.apps import AppConfig


class FhircacheConfig(AppConfig):
    name = "fhircache"
    default_auto_field = "django.db.models.BigAutoField"
