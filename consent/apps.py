import logging

from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "consent"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from consent import checks  # noqa: F401 - registers the system checks

        # authlib logs whole token responses at DEBUG ("Issue token %r": access,
        # refresh and id tokens). DESIGN.md: nothing secret is logged, LOG_LEVEL=DEBUG
        # included, so its loggers never go below INFO.
        authlib_log = logging.getLogger("authlib")
        authlib_log.setLevel(max(logging.INFO, authlib_log.level))
