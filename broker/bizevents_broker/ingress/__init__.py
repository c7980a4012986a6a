"""Ingresses: thin adapters from a protocol to the gateway core (`..core`).

`rest.py` is the HTTP/JSON one (CloudEvents HTTP binding, admin API); `openapi.py` describes it.
"""
