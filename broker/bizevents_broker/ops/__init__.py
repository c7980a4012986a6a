"""The broker's operations pages (`/ops`)."""

from .routes import routes

__all__ = ["routes"]
