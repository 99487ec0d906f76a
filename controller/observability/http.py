"""The one aiohttp server: health, readiness, metrics, status JSON, the page, the webhook.

It knows nothing of ECS or sources: the controller hands it callables (a status
snapshot, a readiness check, a webhook handler), so the arrows keep pointing inward.
Handlers never block on AWS: they read the controller's in-memory status.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web

from controller.observability.apiauth import refusal
from controller.observability.page import render_page

log = structlog.get_logger(__name__)

MAX_WEBHOOK_BYTES = 1024 * 1024


@dataclass
class HttpHooks:
    status: Callable[[], dict[str, Any]]
    """The snapshot served at /api/v1/status: {"source": {...}, "resources": [...]}."""
    ready: Callable[[], tuple[bool, str]]
    """(ready, why): source loaded and AWS reachable."""
    webhook: Callable[[bytes, dict[str, str]], Awaitable[int]] | None = None
    """Handles a push webhook; returns the HTTP status to answer."""
    metrics: Callable[[str], tuple[bytes, str]] | None = None
    """(body, content type) for an Accept header."""
    action: Callable[[str, str, str | None], Awaitable[tuple[int, dict[str, Any]]]] | None = None
    """(service, promote|abort, cluster) -> (HTTP status, JSON body)."""
    local_token: bytes | None = None
    """The token `run` generated (no operator token configured): accepted from loopback."""


def build_app(hooks: HttpHooks) -> web.Application:
    app = web.Application(client_max_size=MAX_WEBHOOK_BYTES)

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        ready, why = hooks.ready()
        return web.Response(text=("ok" if ready else why) + "\n", status=200 if ready else 503)

    async def status(_: web.Request) -> web.Response:
        return web.json_response(hooks.status(), dumps=_dumps)

    async def page(_: web.Request) -> web.Response:
        response = web.Response(text=render_page(hooks.status()), content_type="text/html")
        response.headers["Cache-Control"] = "no-store"
        return response

    async def webhook(request: web.Request) -> web.Response:
        if hooks.webhook is None:
            return web.json_response({"error": "webhook not configured"}, status=404)
        body = await request.read()
        # the caller's address rides on every log line the handler writes
        with structlog.contextvars.bound_contextvars(peer=request.remote):
            code = await hooks.webhook(body, {k.lower(): v for k, v in request.headers.items()})
        return web.json_response({"accepted": code == 202}, status=code)

    async def metrics(request: web.Request) -> web.Response:
        if hooks.metrics is None:
            return web.Response(status=404, text="metrics not configured\n")
        body, content_type = hooks.metrics(request.headers.get("Accept", ""))
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        if len(body) > 1024:
            response.enable_compression()  # gzip when the scraper accepts it (Prometheus does)
        return response

    async def action(request: web.Request) -> web.Response:
        if hooks.action is None:
            return web.json_response({"error": "actions not configured"}, status=404)
        verb = request.match_info["action"]
        if verb not in ("promote", "abort"):
            return web.json_response({"error": f"unknown action {verb!r}"}, status=404)
        name = request.match_info["name"]
        with structlog.contextvars.bound_contextvars(peer=request.remote):
            refused, why = refusal(
                request.remote, request.headers.get("Authorization", ""), hooks.local_token
            )
            if refused:
                log.warning(
                    "api_action_refused", action=verb, service=name, status=refused, reason=why
                )
                return web.json_response({"error": why}, status=refused)
            code, body = await hooks.action(name, verb, request.query.get("cluster"))
            log.info("api_action", action=verb, service=name, status=code)
        return web.json_response(body, status=code)

    app.router.add_post("/api/v1/services/{name}/{action}", action)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/api/v1/status", status)
    app.router.add_post("/api/v1/webhook", webhook)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/", page)
    return app


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=str)


class HttpServer:
    def __init__(self, hooks: HttpHooks, addr: str) -> None:
        host, _, port = addr.rpartition(":")
        self.host = host.strip("[]") or "0.0.0.0"
        self.port = int(port)
        self._runner = web.AppRunner(build_app(hooks), access_log=None)
        self._site: web.TCPSite | None = None

    async def start(self) -> None:
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self.host, self.port)
        await self._site.start()
        log.info("http_listening", addr=f"{self.host}:{self.port}")

    async def stop(self) -> None:
        await self._runner.cleanup()
