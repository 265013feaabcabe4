from django.apps import AppConfig


class PayersConfig(AppConfig):
    name = "payers"
    default_auto_field = "django.db.models.BigAutoField"
