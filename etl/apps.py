from django.apps import AppConfig


class EtlConfig(AppConfig):
    name = "etl"
    default_auto_field = "django.db.models.BigAutoField"
