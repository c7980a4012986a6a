"""Chaos: the whole path under random process kills, checked by an independent reader.

.venv/bin/python -m tests.chaos [--events 10000] [--faults 20] [--seed 1]
"""
