from django.apps import AppConfig


class SandboxConfig(AppConfig):
    """The built-in sandbox payers (DESIGN.md): simulated health plans on their own origin.

    Its own app (label `sandbox`): its tables are its own, and a deployment that
    serves no sandbox can leave it out of INSTALLED_APPS. The tables keep the names
    they had when they belonged to `payers` (migration sandbox 0001 moved only the
    state, no data).
    """

    name = "payers.sandbox"
    label = "sandbox"
    verbose_name = "Sandbox payers"
    default_auto_field = "django.db.models.BigAutoField"
