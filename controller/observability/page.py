"""The status page: one server-rendered HTML document, readable without JavaScript.

It refreshes itself (a meta refresh), escapes every value that came from a user or AWS,
and carries its own small stylesheet so there is no front-end build step.
"""

from __future__ import annotations

import html
from typing import Any

REFRESH_SECONDS = 5

CSS = """
:root{--bg:#f6f7f9;--card:#fff;--ink:#1d2330;--mute:#667085;--line:#e4e7ec;
--ok:#12805c;--okbg:#e3f5ec;--warn:#a15c07;--warnbg:#fdf1dc;--bad:#b42318;--badbg:#fde8e6;
--info:#175cd3;--infobg:#e5effd;--idle:#475467;--idlebg:#eef0f3}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;
background:var(--bg);color:var(--ink)}header{background:#101828;color:#fff;padding:14px 28px;
display:flex;align-items:baseline;gap:18px;flex-wrap:wrap}header h1{font-size:18px;margin:0}
header .src{color:#d0d5dd;font-family:ui-monospace,Menlo,monospace;font-size:12.5px}
main{padding:20px 28px;max-width:1400px}.cards{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:18px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:10px 16px;min-width:130px}
.card b{display:block;font-size:22px}.card span{color:var(--mute);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
table{width:100%;border-collapse:collapse;background:var(--card);border:1px solid var(--line);border-radius:10px;overflow:hidden}
th,td{padding:9px 12px;text-align:left;vertical-align:top;border-bottom:1px solid var(--line)}
th{font-size:11.5px;text-transform:uppercase;letter-spacing:.05em;color:var(--mute);background:#fafbfc}
tr:last-child td{border-bottom:0}.name{font-weight:600}.kind{color:var(--mute);font-size:12px}
.badge{display:inline-block;padding:1px 9px;border-radius:999px;font-size:12px;font-weight:600}
.Synced,.Healthy{color:var(--ok);background:var(--okbg)}.OutOfSync,.Missing{color:var(--warn);background:var(--warnbg)}
.Degraded{color:var(--bad);background:var(--badbg)}.Progressing{color:var(--info);background:var(--infobg)}
.Unknown,.Suspended{color:var(--idle);background:var(--idlebg)}
.mono{font-family:ui-monospace,Menlo,monospace;font-size:12.5px}.msg{max-width:520px}
.err{color:var(--bad)}ul.stops{margin:4px 0 0;padding-left:18px;color:var(--mute);font-size:12.5px}
footer{color:var(--mute);font-size:12px;padding:8px 28px 24px}
.bar{height:6px;background:var(--idlebg);border-radius:3px;margin-top:4px;min-width:90px}
.bar i{display:block;height:6px;border-radius:3px;background:var(--ok)}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _badge(value: str | None) -> str:
    value = value or "Unknown"
    return f'<span class="badge {_e(value)}">{_e(value)}</span>'


def _short(revision: str | None) -> str:
    return (revision or "")[:12]


def _tasks(entry: dict[str, Any]) -> str:
    rollout = entry.get("rollout") or {}
    counts = rollout.get("newCounts") or entry.get("counts")
    if not counts:
        return ""
    desired = counts.get("desired", 0) or 0
    running = counts.get("running", 0) or 0
    pending = counts.get("pending", 0) or 0
    width = 100 if desired == 0 else min(100, round(100 * running / desired))
    label = f"{running}/{desired} running" + (f", {pending} pending" if pending else "")
    prefix = "new set: " if rollout.get("newCounts") else ""
    return f'{_e(prefix + label)}<div class="bar"><i style="width:{width}%"></i></div>'


def _rollout(entry: dict[str, Any]) -> str:
    rollout = entry.get("rollout")
    if not rollout:
        return ""
    parts = [rollout.get("strategy"), rollout.get("phase")]
    if rollout.get("step") is not None:
        parts.append(f"step {rollout['step']}")
    text = " · ".join(_e(p) for p in parts if p)
    if rollout.get("newTaskSet"):
        text += f'<div class="mono kind">{_e(rollout["newTaskSet"])}</div>'
    return text


def _row(entry: dict[str, Any]) -> str:
    where = entry.get("cluster") or ""
    region = entry.get("region") or ""
    message = entry.get("lastError") or entry.get("message") or ""
    msg_class = "msg err" if entry.get("lastError") else "msg"
    stops = entry.get("stoppedReasons") or []
    stops_html = (
        '<ul class="stops">' + "".join(f"<li>{_e(s)}</li>" for s in stops[:5]) + "</ul>"
        if stops
        else ""
    )
    return (
        "<tr>"
        f'<td><div class="name">{_e(entry.get("name"))}</div>'
        f'<div class="kind">{_e(entry.get("kind"))} · {_e(where)} {_e(region)}</div></td>'
        f"<td>{_badge(entry.get('syncStatus'))}</td>"
        f"<td>{_badge(entry.get('healthStatus'))}</td>"
        f'<td class="mono">{_e(_short(entry.get("lastAppliedRevision")))}'
        f'<div class="kind">{_e(entry.get("taskDefinition", "") or "").split("/")[-1]}</div></td>'
        f"<td>{_rollout(entry)}</td>"
        f"<td>{_tasks(entry)}</td>"
        f'<td class="{msg_class}">{_e(message)}{stops_html}</td>'
        "</tr>"
    )


def render_page(snapshot: dict[str, Any]) -> str:
    source = snapshot.get("source") or {}
    resources: list[dict[str, Any]] = snapshot.get("resources") or []
    count = len(resources)
    synced = sum(1 for r in resources if r.get("syncStatus") == "Synced")
    healthy = sum(1 for r in resources if r.get("healthStatus") == "Healthy")
    degraded = sum(1 for r in resources if r.get("healthStatus") == "Degraded")
    progressing = sum(1 for r in resources if r.get("healthStatus") == "Progressing")
    rows = "".join(_row(r) for r in resources) or (
        '<tr><td colspan="7" class="kind">No resources loaded yet.</td></tr>'
    )
    source_error = source.get("error")
    cards = [
        (count, "resources"),
        (synced, "synced"),
        (healthy, "healthy"),
        (progressing, "progressing"),
        (degraded, "degraded"),
    ]
    card_html = "".join(
        f'<div class="card"><b>{n}</b><span>{label}</span></div>' for n, label in cards
    )
    banner = snapshot.get("banner")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{REFRESH_SECONDS}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ecs-gitops · {synced}/{count} synced</title><style>{CSS}</style></head>
<body><header><h1>ecs-gitops</h1>
<span class="src">{_e(source.get("source"))} @ {_e(_short(source.get("revision")))}</span>
<span class="src">{_e(banner)}</span></header>
<main><div class="cards">{card_html}</div>
{f'<p class="err">Source error: {_e(source_error)}</p>' if source_error else ""}
<table><thead><tr><th>Resource</th><th>Sync</th><th>Health</th><th>Revision</th>
<th>Rollout</th><th>Tasks</th><th>Message</th></tr></thead><tbody>{rows}</tbody></table></main>
<footer>Refreshes every {REFRESH_SECONDS} s · source fetched {_e(source.get("fetchedAt"))} ·
instance {_e(snapshot.get("instance"))}</footer></body></html>
"""
