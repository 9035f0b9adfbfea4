"""The dashboard served on a real port from a background thread, for clients that block (httpx,
Playwright's sync API) and so cannot share the test's event loop."""
from __future__ import annotations

import asyncio
import threading

from aiohttp import web

from streams.broker import free_port


class ServerThread:
    def __init__(self, make_app):
        self.make_app = make_app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app: web.Application | None = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="dashboard-test-server", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self.app = self.make_app()
            self._runner = web.AppRunner(self.app, shutdown_timeout=1.0)
            self._loop.run_until_complete(self._runner.setup())
            self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def start(self) -> ServerThread:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        return self

    def call(self, coroutine_function, *args, timeout: float = 10.0):
        """Run a coroutine on the server's loop (e.g. dash.poll_once) and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine_function(*args), self._loop).result(timeout)

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(15)
