"""Fixtures that run the sandbox payers as their own server process (payers work)."""
