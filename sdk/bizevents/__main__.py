"""`python -m bizevents ...`: the `bizevents` command (used to start worker child processes)."""

from .cli import main

main()
