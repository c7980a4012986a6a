"""Permissions enforced by Kafka and PostgreSQL, derived from the contracts."""
