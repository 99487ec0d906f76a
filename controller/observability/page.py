"""The status page: one server-rendered HTML document, readable without JavaScript.

It is built from the same snapshot as /api/v1/status: an overview table (one row per
resource, with each service's estimated monthly cost) that links to a panel per resource
with its revisions, rollout, conditions, errors, stopped reasons and rollout history. It refreshes itself (a meta refresh), carries
its own stylesheet (no build step, no script), reflows to one column on narrow screens, and
escapes every value that came from a user or from AWS; class names come from closed sets.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any

REFRESH_SECONDS = 5
HISTORY_SHOWN = 10

_TONES = {
    "Synced": "ok",
    "Healthy": "ok",
    "succeeded": "ok",
    "True": "ok",
    "OutOfSync": "warn",
    "Missing": "warn",
    "rolled_back": "warn",
    "Paused": "warn",
    "Degraded": "bad",
    "failed": "bad",
    "Failed": "bad",
    "RolledBack": "bad",
    "Progressing": "info",
    "Succeeded": "ok",
    "Started": "info",
    "Idle": "idle",
    "Suspended": "idle",
    "aborted": "idle",
}
"""Status words to a colour; anything else is neutral (so no value reaches a class name)."""

_ROLLOUT_SHOWN = {"strategy", "phase", "step", "newCounts", "startedAt"}

CSS = """
:root{--bg:#f5f6f8;--card:#fff;--ink:#17202e;--mute:#5f6b7c;--line:#e3e6eb;--head:#0f1724;
--ok:#0f7b55;--okbg:#e2f4ec;--warn:#9a5a05;--warnbg:#fcf0da;--bad:#b42318;--badbg:#fde7e5;
--info:#1659c7;--infobg:#e6eefc;--idle:#4a5567;--idlebg:#edf0f3;--mono:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--card:#161b22;--ink:#e6edf3;--mute:#9aa5b1;
--line:#2a313c;--head:#010409;--okbg:#0f2e22;--ok:#4fd18b;--warnbg:#3a2a0c;--warn:#f0b44c;
--badbg:#3d1513;--bad:#ff7b72;--infobg:#0f2547;--info:#79b8ff;--idlebg:#222a35;--idle:#b3bdc8}}
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--ink)}
a{color:inherit}
header.top{background:var(--head);color:#fff;padding:14px 24px;display:flex;flex-wrap:wrap;gap:6px 20px;align-items:center}
header.top h1{font-size:18px;margin:0;letter-spacing:.01em}
header.top h1 small{font-weight:400;color:#98a2b3;font-size:13px;margin-left:8px}
header.top .src{color:#d0d5dd;font-size:13px;overflow-wrap:anywhere}
header.top code{color:#fff}
.pill{border:1px solid #f0b44c;color:#f0b44c;border-radius:999px;padding:1px 10px;font-size:12px}
main{padding:18px 24px 8px;max-width:1440px;margin:0 auto}
h2{font-size:13px;text-transform:uppercase;letter-spacing:.06em;color:var(--mute);margin:22px 0 8px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(120px,1fr));gap:10px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:10px 14px}
.card b{display:block;font-size:24px;line-height:1.2}
.card span{color:var(--mute);font-size:11.5px;text-transform:uppercase;letter-spacing:.05em}
.card.ok b{color:var(--ok)}.card.warn b{color:var(--warn)}.card.bad b{color:var(--bad)}.card.info b{color:var(--info)}
.alert{border-radius:8px;padding:9px 14px;margin:10px 0;border:1px solid}
.alert.bad{background:var(--badbg);color:var(--bad);border-color:var(--bad)}
.alert.warn{background:var(--warnbg);color:var(--warn);border-color:var(--warn)}
.scroll{overflow-x:auto;border:1px solid var(--line);border-radius:10px;background:var(--card)}
table{width:100%;border-collapse:collapse}
th,td{padding:8px 12px;text-align:left;vertical-align:top;border-bottom:1px solid var(--line)}
th{font-size:11px;text-transform:uppercase;letter-spacing:.05em;color:var(--mute);white-space:nowrap}
tr:last-child td{border-bottom:0}
.name{font-weight:600;white-space:nowrap}.sub{color:var(--mute);font-size:12px}
code,.mono{font-family:var(--mono);font-size:12.5px}
.badge{display:inline-block;padding:1px 9px;border-radius:999px;font-size:12px;font-weight:600;white-space:nowrap;
color:var(--idle);background:var(--idlebg)}
.badge.ok{color:var(--ok);background:var(--okbg)}
.badge.warn{color:var(--warn);background:var(--warnbg)}.badge.bad{color:var(--bad);background:var(--badbg)}
.badge.info{color:var(--info);background:var(--infobg)}
.behind{color:var(--warn);font-size:11.5px;font-weight:600}
.bar{display:flex;height:6px;background:var(--idlebg);border-radius:3px;margin-top:4px;min-width:90px;max-width:220px;overflow:hidden}
.bar i{display:block;height:6px;background:var(--ok)}.bar i.p{background:var(--info);opacity:.55}
.panels{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:14px}
article{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px;min-width:0}
article header{display:flex;flex-wrap:wrap;gap:6px 10px;align-items:center;margin-bottom:8px}
article h3{margin:0;font-size:16px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 14px;margin:6px 0}
dt{color:var(--mute);font-size:12.5px}dd{margin:0;overflow-wrap:anywhere}
.err{color:var(--bad);overflow-wrap:anywhere}
ul.stops{margin:4px 0 0;padding-left:18px;color:var(--mute);font-size:12.5px;overflow-wrap:anywhere}
.conds{display:flex;flex-wrap:wrap;gap:6px}
ul.hooks{margin:0;padding:0;list-style:none}ul.hooks li{margin-bottom:4px}
details{margin-top:8px}summary{cursor:pointer;color:var(--mute);font-size:12.5px}
details table th,details table td{padding:5px 8px;font-size:12.5px}
tr.lead td{border-bottom:0}td.note{padding-top:0;overflow-wrap:anywhere}
footer{color:var(--mute);font-size:12px;padding:14px 24px 24px;max-width:1440px;margin:0 auto}
@media (max-width:760px){header.top,main,footer{padding-left:12px;padding-right:12px}
.panels{grid-template-columns:1fr}.wide{display:none}td:first-child{min-width:150px}}
@media (max-width:520px){.mid{display:none}}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _tone(value: Any) -> str:
    return _TONES.get(str(value), "idle")


def _badge(value: Any, title: Any = None) -> str:
    text = value or "Unknown"
    tip = f' title="{_e(title)}"' if title else ""
    return f'<span class="badge {_tone(text)}"{tip}>{_e(text)}</span>'


def _short(revision: Any) -> str:
    return str(revision or "")[:12]


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _ago(value: Any, now: datetime) -> str:
    """A time as 'N s/min/h/d ago', with the exact time in its tooltip."""
    when = _when(value)
    if when is None:
        return '<span class="sub">—</span>' if not value else _e(value)
    seconds = max(0, int((now - when).total_seconds()))
    if seconds < 90:
        text = f"{seconds} s ago"
    elif seconds < 5400:
        text = f"{seconds // 60} min ago"
    elif seconds < 172800:
        text = f"{seconds // 3600} h ago"
    else:
        text = f"{seconds // 86400} d ago"
    return f'<span title="{_e(when.isoformat())}">{text}</span>'


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "—"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


def _anchor(entry: dict[str, Any], index: int) -> str:
    words = "-".join(str(entry.get(k) or "") for k in ("kind", "cluster", "name"))
    return f"r{index}-" + re.sub(r"[^a-z0-9]+", "-", words.lower()).strip("-")


def _counts(counts: dict[str, Any] | None, label: str = "") -> str:
    if not counts:
        return '<span class="sub">—</span>'
    desired = int(counts.get("desired") or 0)
    running = int(counts.get("running") or 0)
    pending = int(counts.get("pending") or 0)
    whole = max(desired, running + pending, 1)
    run_w = round(100 * running / whole)
    pend_w = min(100 - run_w, round(100 * pending / whole))
    text = f"{label}{running}/{desired} running" + (f", {pending} pending" if pending else "")
    return (
        f'{_e(text)}<div class="bar" role="img" aria-label="{_e(text)}">'
        f'<i style="width:{run_w}%"></i><i class="p" style="width:{pend_w}%"></i></div>'
    )


def _phase(phase: Any) -> str:
    """A rollout phase: red when it failed, amber while it waits, blue while it moves."""
    text = str(phase or "Unknown")
    tone = _TONES.get(text) or ("bad" if re.search(r"Fail|Roll|Abort", text) else "info")
    return f'<span class="badge {tone}">{_e(text)}</span>'


def _rollout_line(rollout: dict[str, Any] | None) -> str:
    if not rollout:
        return '<span class="sub">—</span>'
    parts = [_e(rollout.get("strategy")), _phase(rollout.get("phase"))]
    if rollout.get("step") is not None:
        parts.append(f"step {_e(rollout['step'])}")
    return " ".join(p for p in parts if p)


def _revisions(entry: dict[str, Any], desired: Any) -> tuple[str, str]:
    live = entry.get("lastAppliedRevision")
    want = entry.get("lastAttemptedRevision") or desired
    live_html = f'<code title="{_e(live)}">{_e(_short(live))}</code>' if live else "—"
    want_html = f'<code title="{_e(want)}">{_e(_short(want))}</code>' if want else "—"
    if want and live != want:
        want_html += ' <span class="behind">not yet live</span>'
    return live_html, want_html


def _cost(entry: dict[str, Any]) -> str:
    """A service's monthly cost estimate: the figure, the full description in its tooltip."""
    dollars = entry.get("estimatedMonthlyCost")
    text = entry.get("costDescription")
    if not isinstance(dollars, int | float):
        tip = f' title="{_e(text)}"' if text else ""
        return f'<span class="sub"{tip}>—</span>'
    return f'<span title="{_e(text or "")}">${dollars:,.2f}/mo</span>'


def _overview_row(entry: dict[str, Any], index: int, desired: Any) -> str:
    where = " · ".join(
        _e(x) for x in (entry.get("kind"), entry.get("cluster"), entry.get("region")) if x
    )
    live, want = _revisions(entry, desired)
    rollout = entry.get("rollout") or {}
    counts = rollout.get("newCounts") or entry.get("counts")
    return (
        "<tr>"
        f'<td><a class="name" href="#{_anchor(entry, index)}">{_e(entry.get("name"))}</a>'
        f'<div class="sub">{where}</div></td>'
        f"<td>{_badge(entry.get('syncStatus'))}</td>"
        f"<td>{_badge(entry.get('healthStatus'))}</td>"
        f'<td>{live}</td><td class="wide">{want}</td>'
        f'<td class="mid">{_rollout_line(entry.get("rollout"))}</td>'
        f'<td class="wide">{_counts(counts, "new set: " if rollout.get("newCounts") else "")}</td>'
        f'<td class="mid">{_cost(entry)}</td>'
        "</tr>"
    )


def _rollout_detail(rollout: dict[str, Any], now: datetime) -> str:
    rows = [
        ("Rollout", _rollout_line(rollout)),
        ("Started", _ago(rollout.get("startedAt"), now)),
    ]
    if rollout.get("newCounts"):
        rows.append(("New task set", _counts(rollout["newCounts"])))
    for key, value in rollout.items():
        if key in _ROLLOUT_SHOWN or value in (None, "", [], {}):
            continue
        label = re.sub(r"(?<!^)(?=[A-Z])", " ", key).capitalize()
        text = ", ".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else value
        rows.append((label, f'<span class="mono">{_e(text)}</span>'))
    return "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in rows)


def _conditions(entry: dict[str, Any]) -> str:
    chips = []
    for cond in entry.get("conditions") or []:
        text = f"{cond.get('type')}: {cond.get('reason') or cond.get('status')}"
        tip = cond.get("message") or cond.get("status")
        tone_of = cond.get("status") if cond.get("type") == "Ready" else "other"
        if cond.get("type") == "Stalled" and cond.get("status") == "True":
            tone_of = "failed"
        chips.append(f'<span class="badge {_tone(tone_of)}" title="{_e(tip)}">{_e(text)}</span>')
    return f'<div class="conds">{"".join(chips)}</div>' if chips else ""


def _history(entry: dict[str, Any], now: datetime) -> str:
    records = (entry.get("history") or [])[:HISTORY_SHOWN]
    if not records:
        return "<details><summary>Rollout history (none yet)</summary></details>"
    rows = "".join(_history_row(r, now) for r in records)
    return (
        f"<details open><summary>Rollout history ({len(records)})</summary>"
        '<div class="scroll"><table><thead><tr><th>Finished</th><th>Revision</th>'
        "<th>Strategy</th><th>Result</th><th>Took</th>"
        f"</tr></thead><tbody>{rows}</tbody></table></div></details>"
    )


def _history_row(record: dict[str, Any], now: datetime) -> str:
    revision = record.get("revision")
    task_def = str(record.get("taskDefinition") or "").rsplit("/", 1)[-1]
    note = " · ".join(_e(x) for x in (task_def, record.get("reason")) if x)
    lead = ' class="lead"' if note else ""
    return (
        f"<tr{lead}>"
        f"<td>{_ago(record.get('finishedAt'), now)}</td>"
        f'<td><code title="{_e(revision)}">{_e(_short(revision)) or "—"}</code></td>'
        f"<td>{_e(record.get('strategy'))}</td>"
        f"<td>{_badge(record.get('result'))}</td>"
        f"<td>{_duration(record.get('durationSeconds'))}</td></tr>"
        + (f'<tr><td colspan="5" class="sub note">{note}</td></tr>' if note else "")
    )


def _hooks(entry: dict[str, Any]) -> str:
    """preSync / postSync hook runs: state, exit codes, why a task stopped, its console link."""
    items = []
    for hook in entry.get("hooks") or []:
        codes = ", ".join(f"{c}={x}" for c, x in (hook.get("exitCodes") or {}).items())
        notes = " · ".join(
            _e(x)
            for x in (codes and f"exit {codes}", hook.get("stoppedReason"), hook.get("message"))
            if x
        )
        url = str(hook.get("taskUrl") or "")
        link = f' <a href="{_e(url)}">task</a>' if url.startswith("https://") else ""
        items.append(
            f"<li>{_e(hook.get('phase'))} <b>{_e(hook.get('name'))}</b> "
            f"{_badge(hook.get('state'))}{link}"
            + (f'<div class="sub">{notes}</div>' if notes else "")
            + "</li>"
        )
    return f'<dt>Hooks</dt><dd><ul class="hooks">{"".join(items)}</ul></dd>' if items else ""


def _panel(entry: dict[str, Any], index: int, desired: Any, now: datetime) -> str:
    live, want = _revisions(entry, desired)
    where = " · ".join(
        _e(x) for x in (entry.get("kind"), entry.get("cluster"), entry.get("region")) if x
    )
    task_def = str(entry.get("taskDefinition") or "").rsplit("/", 1)[-1]
    rows = [("Live revision", live), ("Desired revision", want)]
    if task_def:
        rows.append(("Task definition", f"<code>{_e(task_def)}</code>"))
    if entry.get("counts"):
        rows.append(("Tasks", _counts(entry["counts"])))
    if entry.get("costDescription"):
        rows.append(("Monthly cost", f"{_e(entry['costDescription'])} (estimate)"))
    if entry.get("message"):
        rows.append(("Message", _e(entry["message"])))
    body = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    if entry.get("rollout"):
        body += _rollout_detail(entry["rollout"], now)
    body += _hooks(entry)
    error = entry.get("lastError")
    stops = entry.get("stoppedReasons") or []
    extra = f'<p class="err"><b>Last error:</b> {_e(error)}</p>' if error else ""
    if stops:
        items = "".join(f"<li>{_e(s)}</li>" for s in stops[:10])
        extra += f'<div class="sub">Stopped tasks:</div><ul class="stops">{items}</ul>'
    return (
        f'<article id="{_anchor(entry, index)}"><header><h3>{_e(entry.get("name"))}</h3>'
        f"{_badge(entry.get('syncStatus'))} {_badge(entry.get('healthStatus'))}"
        f'<span class="sub">{where}</span></header>'
        f"{_conditions(entry)}<dl>{body}</dl>{extra}{_history(entry, now)}</article>"
    )


def _cards(resources: list[dict[str, Any]]) -> str:
    def count(field: str, value: str) -> int:
        return sum(1 for r in resources if r.get(field) == value)

    cards = [
        (len(resources), "resources", ""),
        (count("syncStatus", "Synced"), "synced", "ok"),
        (count("syncStatus", "OutOfSync"), "out of sync", "warn"),
        (count("healthStatus", "Healthy"), "healthy", "ok"),
        (count("healthStatus", "Progressing"), "progressing", "info"),
        (count("healthStatus", "Degraded"), "degraded", "bad"),
    ]
    html_cards = "".join(
        f'<div class="card {tone if n else ""}"><b>{n}</b><span>{label}</span></div>'
        for n, label, tone in cards
    )
    costs = [r["estimatedMonthlyCost"] for r in resources if r.get("estimatedMonthlyCost")]
    if costs:
        total = sum(float(c) for c in costs)
        html_cards += f'<div class="card"><b>${total:,.2f}</b><span>per month (est.)</span></div>'
    return html_cards


def render_page(snapshot: dict[str, Any], now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    source = snapshot.get("source") or {}
    resources: list[dict[str, Any]] = snapshot.get("resources") or []
    revision = source.get("revision")
    synced = sum(1 for r in resources if r.get("syncStatus") == "Synced")
    alerts = ""
    if source.get("error"):
        alerts += f'<div class="alert bad"><b>Source error:</b> {_e(source["error"])}</div>'
    if source.get("pruneBlocked"):
        alerts += f'<div class="alert warn">{_e(source["pruneBlocked"])}</div>'
    rows = "".join(_overview_row(r, i, revision) for i, r in enumerate(resources))
    if not rows:
        rows = '<tr><td colspan="8" class="sub">No resources loaded yet.</td></tr>'
    panels = "".join(_panel(r, i, revision, now) for i, r in enumerate(resources))
    diagnostics = source.get("diagnostics") or []
    diag_html = ""
    if diagnostics:
        items = "".join(f"<li><code>{_e(d)}</code></li>" for d in diagnostics[:50])
        diag_html = (
            f"<details><summary>{len(diagnostics)} problem(s) in the source</summary>"
            f'<ul class="stops">{items}</ul></details>'
        )
    banner = snapshot.get("banner")
    banner_html = f'<span class="pill">{_e(banner)}</span>' if banner else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{REFRESH_SECONDS}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ecs-gitops · {synced}/{len(resources)} synced</title><style>{CSS}</style></head>
<body><header class="top"><h1>ecs-gitops<small>instance {_e(snapshot.get("instance"))}</small></h1>
<span class="src">source <code>{_e(source.get("source"))}</code> at
<code title="{_e(revision)}">{_e(_short(revision)) or "—"}</code>
· committed {_ago(source.get("commitTime"), now)} · fetched {_ago(source.get("fetchedAt"), now)}</span>
{banner_html}</header>
<main>{alerts}{diag_html}
<section class="cards" aria-label="summary">{_cards(resources)}</section>
<h2>Resources</h2>
<div class="scroll"><table><thead><tr><th>Resource</th><th>Sync</th><th>Health</th>
<th>Live</th><th class="wide">Desired</th><th class="mid">Rollout</th><th class="wide">Tasks</th>
<th class="mid" title="estimated monthly Fargate cost (approximate list prices)">Cost</th></tr></thead>
<tbody>{rows}</tbody></table></div>
<h2>Details</h2><div class="panels">{panels}</div></main>
<footer>Refreshes every {REFRESH_SECONDS} s · rendered {_e(now.strftime("%Y-%m-%d %H:%M:%S UTC"))} ·
<a href="/api/v1/status">status JSON</a> · <a href="/metrics">metrics</a></footer></body></html>
"""
