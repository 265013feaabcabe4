"""The sandbox payers' tables, moved from the `payers` app without touching the data.

They were created by payers 0002/0003 and keep their names (`db_table`), so this
only tells Django's migration state that they now belong to `sandbox`
(SeparateDatabaseAndState with no database operations); payers 0006 removes
them from the `payers` state the same way.
"""

import config.crypto
import django.db.models.deletion
import uuid
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        # The tables exist in their final shape from here on.
        ("payers", "0003_client_auth"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="SandboxClient",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("client_id", models.CharField(max_length=100)),
                        ("secret_hash", models.CharField(blank=True, max_length=64)),
                        ("redirect_uris", models.JSONField(default=list)),
                        ("jwks", models.JSONField(blank=True, default=list)),
                    ],
                    options={
                        "db_table": "payers_sandboxclient",
                    },
                ),
                migrations.CreateModel(
                    name="SandboxPayer",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("slug", models.SlugField(max_length=120, unique=True)),
                        ("name", models.CharField(max_length=255)),
                        ("profile", models.JSONField(default=dict)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        "db_table": "payers_sandboxpayer",
                    },
                ),
                migrations.CreateModel(
                    name="SandboxSigningKey",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("kid", models.CharField(max_length=64, unique=True)),
                        ("private_pem", config.crypto.EncryptedTextField()),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        "db_table": "payers_sandboxsigningkey",
                    },
                ),
                migrations.CreateModel(
                    name="SandboxGrant",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("code_hash", models.CharField(max_length=64, unique=True)),
                        ("patient_id", models.CharField(max_length=64)),
                        ("scope", models.TextField()),
                        ("redirect_uri", models.URLField(max_length=1000)),
                        ("code_challenge", models.CharField(max_length=128)),
                        ("nonce", models.CharField(blank=True, max_length=255)),
                        ("expires_at", models.DateTimeField()),
                        ("used_at", models.DateTimeField(null=True)),
                        (
                            "client",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                to="sandbox.sandboxclient",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "payers_sandboxgrant",
                    },
                ),
                migrations.AddField(
                    model_name="sandboxclient",
                    name="payer",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="clients",
                        to="sandbox.sandboxpayer",
                    ),
                ),
                migrations.CreateModel(
                    name="SandboxToken",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "kind",
                            models.CharField(
                                choices=[("access", "Access"), ("refresh", "Refresh")],
                                max_length=10,
                            ),
                        ),
                        ("token_hash", models.CharField(max_length=64, unique=True)),
                        ("family", models.UUIDField(db_index=True, default=uuid.uuid4)),
                        ("patient_id", models.CharField(max_length=64)),
                        ("scope", models.TextField()),
                        ("expires_at", models.DateTimeField(null=True)),
                        ("used_at", models.DateTimeField(null=True)),
                        ("revoked_at", models.DateTimeField(null=True)),
                        ("request_count", models.PositiveIntegerField(default=0)),
                        (
                            "client",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                to="sandbox.sandboxclient",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "payers_sandboxtoken",
                    },
                ),
                migrations.CreateModel(
                    name="SandboxClientAssertion",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("jti_hash", models.CharField(max_length=64)),
                        ("expires_at", models.DateTimeField()),
                        (
                            "client",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                to="sandbox.sandboxclient",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "payers_sandboxclientassertion",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("client", "jti_hash"), name="sandbox_jti_once"
                            )
                        ],
                    },
                ),
                migrations.AddConstraint(
                    model_name="sandboxclient",
                    constraint=models.UniqueConstraint(
                        fields=("payer", "client_id"), name="sandbox_client_unique"
                    ),
                ),
            ],
        ),
    ]
