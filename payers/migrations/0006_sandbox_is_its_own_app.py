"""The sandbox payers' models leave the `payers` state for their own app, `sandbox`.

State only (SeparateDatabaseAndState): the tables stay, with their data, and
belong to `sandbox` from its migration 0001 on.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("payers", "0005_sync_success_streak"),
        ("sandbox", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.RemoveField(
                    model_name="sandboxclient",
                    name="payer",
                ),
                migrations.RemoveField(
                    model_name="sandboxgrant",
                    name="client",
                ),
                migrations.RemoveField(
                    model_name="sandboxclientassertion",
                    name="client",
                ),
                migrations.RemoveField(
                    model_name="sandboxtoken",
                    name="client",
                ),
                migrations.DeleteModel(
                    name="SandboxSigningKey",
                ),
                migrations.DeleteModel(
                    name="SandboxPayer",
                ),
                migrations.DeleteModel(
                    name="SandboxGrant",
                ),
                migrations.DeleteModel(
                    name="SandboxClientAssertion",
                ),
                migrations.DeleteModel(
                    name="SandboxClient",
                ),
                migrations.DeleteModel(
                    name="SandboxToken",
                ),
            ],
        ),
    ]
