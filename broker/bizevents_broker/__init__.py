"""bizevents broker service."""
