"""The gateway app on a real port (uvicorn in the test's loop), for clients that speak HTTP
themselves: third-party OData clients, zeep, a Node script."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from bizevents_broker.app import create_app
from servers import free_port

from .conftest import Env


@asynccontextmanager
async def serving(env: Env, **settings: Any) -> AsyncIterator[str]:
    """The base URL of the env's gateway served over HTTP until the block ends."""
    app = create_app(
        env.settings.model_copy(update=settings),
        env.registry,
        env.gateway,
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not server.started:
        if task.done() or loop.time() > deadline:
            raise RuntimeError("the gateway did not start serving")
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
