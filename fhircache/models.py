"""fhircache models."""
