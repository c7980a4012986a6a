from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from .live import Live, live_flow


@pytest.fixture(scope="package")
async def live(services: Any, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Live]:
    """One live flow shared by the operations tests (it takes tens of seconds to build)."""
    async with live_flow(services, tmp_path_factory.mktemp("live")) as flow:
        yield flow
