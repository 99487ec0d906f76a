"""`promote` and `abort`: the manual gates of a running rollout, through the HTTP API.

The controller acts on them at its next reconcile. The API always wants a bearer token:
--token, else the operator's (ECS_GITOPS_API_TOKEN, or ECS_GITOPS_API_TOKEN_FILE), else,
for a controller on this machine, the one a local `run` generated (observability.apiauth).
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.parse
import urllib.request

import click

from controller.cli.options import server_option
from controller.errors import SecretUnavailable
from controller.observability.apiauth import configured_token, is_loopback, read_local_token


def api_token(server: str) -> str | None:
    """The token to present to server; the generated one only to a server on this machine."""
    try:
        token = configured_token()
        if token is None:
            parts = urllib.parse.urlsplit(server)
            host = parts.hostname or ""
            if host == "localhost" or is_loopback(host):
                token = read_local_token(parts.port or (443 if parts.scheme == "https" else 80))
    except (SecretUnavailable, ValueError) as exc:
        raise click.UsageError(str(exc)) from None
    return token.decode() if token else None


def _post(server: str, action: str, service: str, cluster: str | None, token: str | None) -> None:
    query = f"?cluster={urllib.parse.quote(cluster)}" if cluster else ""
    url = f"{server.rstrip('/')}/api/v1/services/{urllib.parse.quote(service)}/{action}{query}"
    request = urllib.request.Request(url, data=b"{}", method="POST")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.loads(response.read() or b"{}")
            click.echo(body.get("message", "ok"))
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error", exc.reason)
        except ValueError:
            message = exc.reason
        click.echo(f"error: {message} (HTTP {exc.code})", err=True)
        sys.exit(1 if exc.code in (404, 409) else 2)
    except (urllib.error.URLError, OSError) as exc:
        click.echo(f"error: cannot reach {server}: {exc}", err=True)
        sys.exit(2)


def _command(action: str, help_text: str) -> click.Command:
    @click.command(name=action, help=help_text)
    @click.argument("service")
    @click.option(
        "--cluster", default=None, help="Needed only when the name is in several clusters."
    )
    @server_option
    @click.option(
        "--token",
        default=None,
        help="Bearer token (default: ECS_GITOPS_API_TOKEN[_FILE], else the token a local "
        "`run` generated).",
    )
    def command(service: str, cluster: str | None, server: str, token: str | None) -> None:
        _post(server, action, service, cluster, token or api_token(server))

    return command


promote = _command("promote", "Let a paused canary step of SERVICE go on.")
abort = _command("abort", "Roll back the rollout in progress of SERVICE.")
