"""Secrets at rest: ciphertext in the column, plaintext in Python, rotatable."""

from cryptography.fernet import Fernet

from config import crypto


def test_encrypt_round_trip_and_ciphertext_hides_plaintext():
    token = crypto.encrypt("payer-refresh-token-123")
    assert "payer-refresh-token-123" not in token
    assert crypto.decrypt(token) == "payer-refresh-token-123"


def test_rotation_moves_ciphertext_to_the_new_primary_key(settings):
    old_key = settings.ENCRYPTION_KEYS[0]
    token = crypto.encrypt("webhook-secret")
    new_key = Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = [new_key, old_key]

    rotated = crypto.rotate(token)

    settings.ENCRYPTION_KEYS = [new_key]  # the old key is gone now
    assert crypto.decrypt(rotated) == "webhook-secret"
    try:
        crypto.decrypt(token)
    except ValueError as exc:
        assert "webhook-secret" not in str(exc)
    else:
        raise AssertionError("a value under a dropped key must not decrypt")
