"""etl models."""
