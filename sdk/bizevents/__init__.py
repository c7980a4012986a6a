"""bizevents."""
