"""`EmulatedAws`: moto's server on loopback plus the ECS task-set emulator, in this process.

Design: moto's WSGI app (the one `moto.server.ThreadedMotoServer` serves) runs on a
werkzeug threaded server on 127.0.0.1, wrapped so every request holds one lock; the
emulator's driver thread takes the same lock for each tick, so it never races moto's
request threads. Clients, the production controller included, reach it only over HTTP
at `endpoint_url` with any credentials, exactly like real AWS.

moto keeps its state in module globals, so one process holds one emulated AWS: a second
`EmulatedAws` cannot start while one runs. While it runs, the moto patches (patches.py)
are installed process-wide; `stop()` removes them. Everything it serves is emulated, and
says so: the banner `EMULATED_BANNER` and an `emulated_aws_started` log event on start.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from types import TracebackType
from typing import Any

import structlog
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from controller.local.config import EMULATED_BANNER, EmulatorConfig, FailureMode
from controller.local.network import precreate_network
from controller.local.patches import MotoPatches
from controller.local.scheduler import Driver
from controller.local.tasks import TaskBook

log = structlog.get_logger("controller.local")

_ACTIVE_LOCK = threading.Lock()
_active: EmulatedAws | None = None


class _QuietHandler(MotoRequestHandler):
    """moto's request handler without werkzeug's per-request access log on stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class _LockedApp:
    """Runs each request, body included, with the emulator's lock held.

    After moto's `/moto-api/reset` the network is re-created before the lock is released,
    so no client ever sees a reset world without subnet-aaa and friends.
    """

    def __init__(self, app: Any, lock: threading.RLock, after_reset: Callable[[], None]) -> None:
        self.app = app
        self.lock = lock
        self.after_reset = after_reset

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with self.lock:
            result = self.app(environ, start_response)
            try:
                return [bytes(chunk) for chunk in result]
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
                if str(environ.get("PATH_INFO", "")).rstrip("/") == "/moto-api/reset":
                    self.after_reset()


class EmulatedAws:
    """Emulated AWS on loopback; use as a context manager or call start()/stop()."""

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        regions: Sequence[str] | None = None,
        task_start_delay: float | None = None,
        tick_interval: float | None = None,
        failure_modes: Mapping[str, FailureMode] | None = None,
    ) -> None:
        config = config or EmulatorConfig()
        overrides: dict[str, Any] = {}
        if regions is not None:
            overrides["regions"] = tuple(regions)
        if task_start_delay is not None:
            overrides["task_start_delay"] = task_start_delay
        if tick_interval is not None:
            overrides["tick_interval"] = tick_interval
        if failure_modes is not None:
            overrides["failure_modes"] = dict(failure_modes)
        self.config = replace(config, **overrides)
        self.host = host
        self.port = port
        self.banner = EMULATED_BANNER
        self.lock = threading.RLock()
        self.book = TaskBook()
        self.driver = Driver(self.config, self.book)
        self._patches = MotoPatches(self.book, self.config)
        self._server: BaseWSGIServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    @staticmethod
    def active() -> EmulatedAws | None:
        """The EmulatedAws running in this process, if any (there is at most one)."""
        with _ACTIVE_LOCK:
            return _active

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("EmulatedAws is not running: call start() first")
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> str:
        """Start serving; returns endpoint_url."""
        global _active
        with _ACTIVE_LOCK:
            if _active is not None:
                raise RuntimeError("an EmulatedAws is already running in this process")
            _active = self
        try:
            with self.lock:
                self._patches.install()
                self.driver.ensure_network()
            app = _LockedApp(
                DomainDispatcherApplication(create_backend_app),
                self.lock,
                self._after_reset,
            )
            self._server = make_server(
                self.host, self.port, app, threaded=True, request_handler=_QuietHandler
            )
            self.port = int(self._server.server_address[1])
        except BaseException:
            self._release()
            raise
        self._stopping.clear()
        self._threads = [
            threading.Thread(
                target=self._server.serve_forever, name="emulated-aws-http", daemon=True
            ),
            threading.Thread(target=self._drive, name="emulated-ecs-driver", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        log.info(
            "emulated_aws_started",
            endpoint=self.endpoint_url,
            regions=list(self.config.regions),
            banner=self.banner,
        )
        return self.endpoint_url

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        for thread in self._threads:
            thread.join(timeout=10)
        self._server.server_close()
        self._server = None
        self._threads = []
        self._release()
        log.info("emulated_aws_stopped")

    def _release(self) -> None:
        global _active
        with self.lock:
            self._patches.uninstall()
        with _ACTIVE_LOCK:
            if _active is self:
                _active = None

    def __enter__(self) -> EmulatedAws:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def precreate_network(
        self,
        subnets: Iterable[str] = (),
        security_groups: Iterable[str] = (),
        region: str | None = None,
    ) -> None:
        """Make extra subnet / security group ids exist (every configured region by default)."""
        subnets, security_groups = list(subnets), list(security_groups)
        with self.lock:
            for name in [region] if region else self.config.regions:
                precreate_network(
                    region=name,
                    subnets=subnets,
                    security_groups=security_groups,
                    account_id=self.config.account_id,
                )

    def reset(self) -> None:
        """Forget every resource (moto's /moto-api/reset), then re-create the network."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass  # the server re-creates the network before answering

    def _after_reset(self) -> None:
        self.driver.forget()
        self.driver.ensure_network()

    def tick(self) -> None:
        """Run one scheduler step now (the scheduler thread also runs one per tick_interval)."""
        with self.lock:
            self.driver.tick()

    def client_environment(self) -> dict[str, str]:
        """Environment for AWS SDK clients (any credentials work) pointed at the emulator."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "emulated",
            "AWS_SECRET_ACCESS_KEY": "emulated",
            "AWS_DEFAULT_REGION": self.config.regions[0] if self.config.regions else "us-east-1",
        }

    def _drive(self) -> None:
        interval = max(self.config.tick_interval, 0.01)
        while not self._stopping.wait(interval):
            started = time.monotonic()
            try:
                with self.lock:
                    self.driver.tick(started)
            except Exception:
                log.exception("emulated_ecs_tick_failed")
