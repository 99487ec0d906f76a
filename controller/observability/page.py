"""The status page: one server-rendered HTML document, readable without JavaScript.

It is built from the same snapshot as /api/v1/status: an overview table (one row per
resource: status, image, revisions, rollout, tasks, cost) that links to a panel per
resource answering "what is running and why": its images and task definition revision,
the commit it runs (subject and author), the rollout's timeline (its start, its hooks,
the current step, where it is now or how it ended), the one problem (shown once), stopped
tasks and the rollout history. It refreshes itself (a meta
refresh), carries its own stylesheet (no build step, no script) and reflows down to a
phone's width.

Design: Jinja2 templates (templates/) with autoescaping on, so a new panel cannot forget
an escape; this module only shapes the snapshot into a view (plain values, tones from
closed sets) and renders it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

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

_ROLLOUT_SHOWN = {
    *("strategy", "phase", "step", "newCounts", "startedAt", "stepStartedAt"),
    *("primaryTaskSet", "newTaskSet", "newTaskDefinition", "newImages"),
}
_ENDED = {"RolledBack", "Failed", "Aborted"}
"""Phases a rollout stays in once it is over (until a new commit)."""

_env = Environment(
    loader=PackageLoader("controller.observability", "templates"),
    autoescape=select_autoescape(["html", "j2"], default=True),
    undefined=StrictUndefined,
    trim_blocks=False,
    lstrip_blocks=False,
)


def tone(value: Any) -> str:
    return _TONES.get(str(value or "Unknown"), "idle")


@dataclass(frozen=True)
class When:
    text: str
    exact: str | None


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def ago(value: Any, now: datetime) -> When:
    """A time as 'N s/min/h/d ago', with the exact time for its tooltip."""
    when = _when(value)
    if when is None:
        return When(str(value) if value else "—", None)
    seconds = max(0, int((now - when).total_seconds()))
    if seconds < 90:
        text = f"{seconds} s ago"
    elif seconds < 5400:
        text = f"{seconds // 60} min ago"
    elif seconds < 172800:
        text = f"{seconds // 3600} h ago"
    else:
        text = f"{seconds // 86400} d ago"
    return When(text, when.isoformat())


_env.filters["tone"] = tone
_env.filters["ago"] = ago


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "—"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


def _anchor(entry: dict[str, Any], index: int) -> str:
    words = "-".join(str(entry.get(k) or "") for k in ("kind", "cluster", "name"))
    return f"r{index}-" + re.sub(r"[^a-z0-9]+", "-", words.lower()).strip("-")


def _counts(counts: dict[str, Any] | None) -> dict[str, Any] | None:
    if not counts:
        return None
    desired = int(counts.get("desired") or 0)
    running = int(counts.get("running") or 0)
    pending = int(counts.get("pending") or 0)
    whole = max(desired, running + pending, 1)
    running_pct = round(100 * running / whole)
    return {
        "text": f"{running}/{desired} running" + (f", {pending} pending" if pending else ""),
        "running_pct": running_pct,
        "pending_pct": min(100 - running_pct, round(100 * pending / whole)),
    }


def _image(image: str) -> dict[str, str]:
    """An image reference as repository and tag (or digest), and its short form."""
    name, at, digest = image.partition("@")
    repository, colon, tag = name.rpartition(":")
    if not colon or "/" in tag:  # no tag: a port, or nothing, after the last colon
        repository, tag = name, "latest"
    if at:
        tag = f"{tag}@{digest[:19]}" if colon else digest[:19]
    return {"full": image, "repository": repository, "tag": tag,
            "short": f"{repository.rsplit('/', 1)[-1]}:{tag}"}  # fmt: skip


def _phase_tone(phase: str) -> str:
    """Red when a rollout failed, amber while it waits, blue while it moves."""
    return _TONES.get(phase) or ("bad" if re.search(r"Fail|Roll|Abort", phase) else "info")


def _rollout(entry: dict[str, Any], problem: str, emulated: bool) -> dict[str, Any] | None:
    """The rollout as a timeline: its start, its hooks, its current step, and where it is
    now (or how it ended); the task set ids below it, not as steps."""
    rollout = entry.get("rollout")
    if not rollout:
        return None
    phase = str(rollout.get("phase") or "Unknown")
    stalled = next(
        (
            str(c.get("reason") or "Stalled")
            for c in entry.get("conditions") or []
            if c.get("type") == "Stalled" and c.get("status") == "True"
        ),
        None,
    )
    extra = []
    for key, value in rollout.items():
        if key in _ROLLOUT_SHOWN or value in (None, "", [], {}):
            continue
        label = re.sub(r"(?<!^)(?=[A-Z])", " ", key).capitalize()
        text = ", ".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else value
        extra.append((label, str(text)))
    sets = [
        f"{role} {rollout[key]}"
        for role, key in (("primary", "primaryTaskSet"), ("new", "newTaskSet"))
        if rollout.get(key)
    ]
    message = str(entry.get("message") or "")
    return {
        "strategy": rollout.get("strategy") or "",
        "phase": phase,
        "tone": "bad" if stalled or entry.get("healthStatus") == "Degraded" else _phase_tone(phase),
        "started_at": rollout.get("startedAt"),
        "hooks": _hooks(entry, problem, emulated),
        "step": rollout.get("step"),
        "step_started_at": rollout.get("stepStartedAt"),
        "new_counts": _counts(rollout.get("newCounts")),
        "ended": stalled or (phase if phase in _ENDED else None),
        "now": message if message and message not in problem else "",
        "sets": ", ".join(sets),
        "extra": extra,
    }


def _conditions(entry: dict[str, Any]) -> list[dict[str, str]]:
    """A badge per condition that holds (status True): Ready, Reconciling, Stalled."""
    shown = []
    for cond in entry.get("conditions") or []:
        if cond.get("status") != "True":
            continue
        kind = cond.get("type")
        reason = cond.get("reason")
        shown.append(
            {
                "text": f"{kind}: {reason}" if reason and reason != kind else str(kind),
                "tone": {"Ready": "ok", "Stalled": "bad"}.get(str(kind), "info"),
                "message": cond.get("message") or "",
            }
        )
    return shown


def _problem(entry: dict[str, Any]) -> str:
    """The one thing wrong, shown once: the last error, else a Degraded resource's message."""
    if entry.get("lastError"):
        return str(entry["lastError"])
    if entry.get("healthStatus") == "Degraded" and entry.get("message"):
        return str(entry["message"])
    return ""


def _hooks(entry: dict[str, Any], problem: str, emulated: bool) -> list[dict[str, Any]]:
    """A rollout's hook runs; a note says only what the problem above does not."""
    hooks = []
    for hook in entry.get("hooks") or []:
        codes = ", ".join(f"{c}={x}" for c, x in (hook.get("exitCodes") or {}).items())
        notes = [
            f"exit codes: {codes}" if codes and codes not in problem else "",
            *(hook.get(k) or "" for k in ("stoppedReason", "message")),
        ]
        url = str(hook.get("taskUrl") or "")
        task = str(hook.get("taskArn") or "").rsplit("/", 1)[-1]
        hooks.append(
            {
                "phase": hook.get("phase") or "",
                "name": hook.get("name") or "",
                "state": hook.get("state"),
                # a console link only to AWS itself, and never under an emulator
                "url": url if url.startswith("https://") and not emulated else "",
                "task": task,
                "started_at": hook.get("startedAt"),
                "took": _took(hook.get("startedAt"), hook.get("stoppedAt")),
                "notes": " · ".join(n for n in map(str, notes) if n and n not in problem),
            }
        )
    return hooks


def _took(start: Any, end: Any) -> str:
    begun, ended = _when(start), _when(end)
    if begun is None or ended is None:
        return ""
    return _duration((ended - begun).total_seconds())


def _history(entry: dict[str, Any], commits: dict[str, Any]) -> list[dict[str, Any]]:
    shown = []
    for record in (entry.get("history") or [])[:HISTORY_SHOWN]:
        task_def = _revision(record.get("taskDefinition"))
        made = _commit(commits, record.get("revision"))
        note = " · ".join(str(x) for x in (made, task_def, record.get("reason")) if x)
        shown.append(
            {
                "startedAt": record.get("startedAt"),
                "finishedAt": record.get("finishedAt"),
                "revision": record.get("revision"),
                "strategy": record.get("strategy") or "",
                "result": record.get("result"),
                "took": _duration(record.get("durationSeconds")),
                "note": note,
            }
        )
    return shown


def _revision(arn: Any) -> str:
    """A task definition ARN as family:revision."""
    return str(arn or "").rsplit("/", 1)[-1]


def _said(subject: Any, author: Any) -> str:
    """A commit as people name it: “subject” by author ("" when the source gave none)."""
    if not subject:
        return ""
    return f"“{subject}”" + (f" by {author}" if author else "")


def _commit(commits: dict[str, Any], revision: Any) -> str:
    made = commits.get(str(revision)) if revision else None
    return _said(made.get("subject"), made.get("author")) if made else ""


def _view(
    entry: dict[str, Any], index: int, snapshot: dict[str, Any], emulated: bool
) -> dict[str, Any]:
    source = snapshot.get("source") or {}
    commits: dict[str, Any] = snapshot.get("commits") or {}
    live = entry.get("lastAppliedRevision")
    want = entry.get("lastAttemptedRevision") or source.get("revision")
    problem = _problem(entry)
    message = str(entry.get("message") or "")
    rollout = entry.get("rollout") or {}
    if rollout:  # the timeline's "now" says it
        message = ""
    dollars = entry.get("estimatedMonthlyCost")
    stops = [s for s in entry.get("stoppedReasons") or [] if s not in problem][:10]
    return {
        "anchor": _anchor(entry, index),
        "name": entry.get("name") or "",
        "where": " · ".join(
            str(x) for x in (entry.get("kind"), entry.get("cluster"), entry.get("region")) if x
        ),
        "sync": entry.get("syncStatus"),
        "health": entry.get("healthStatus"),
        "images": [_image(str(i)) for i in entry.get("images") or [] if i],
        "task_definition": _revision(entry.get("taskDefinition")),
        # what the new task set runs beside it, mid-rollout
        "new_images": [_image(str(i)) for i in rollout.get("newImages") or [] if i],
        "new_task_definition": _revision(rollout.get("newTaskDefinition")),
        "live": live,
        "want": want,
        "behind": bool(want and live != want),
        "live_commit": _commit(commits, live),
        "want_commit": _commit(commits, want),
        "counts": _counts(entry.get("counts")),
        "overview_counts": _counts(rollout.get("newCounts") or entry.get("counts")),
        "overview_counts_label": "new set: " if rollout.get("newCounts") else "",
        "cost": dollars if isinstance(dollars, int | float) else None,
        "cost_description": entry.get("costDescription"),
        "message": message if message and message not in problem else "",
        "problem": problem,
        "rollout": _rollout(entry, problem, emulated),
        "conditions": _conditions(entry),
        "stops": stops,
        "history": _history(entry, commits),
    }  # fmt: skip


def _cards(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
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
    shown = [{"value": n, "label": label, "tone": tone if n else ""} for n, label, tone in cards]
    costs = [r["estimatedMonthlyCost"] for r in resources if r.get("estimatedMonthlyCost")]
    if costs:
        total = sum(float(c) for c in costs)
        shown.append({"value": f"${total:,.2f}", "label": "per month (est.)", "tone": ""})
    return shown


def render_page(snapshot: dict[str, Any], now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    source: dict[str, Any] = {
        "source": None,
        "revision": None,
        "commitSubject": None,
        "commitAuthor": None,
        "commitTime": None,
        "fetchedAt": None,
        "error": None,
        "pruneBlocked": None,
        **(snapshot.get("source") or {}),
    }
    resources: list[dict[str, Any]] = snapshot.get("resources") or []
    emulated = snapshot.get("endpoint") or None
    return _env.get_template("page.html.j2").render(
        now=now,
        refresh=REFRESH_SECONDS,
        instance=snapshot.get("instance"),
        banner=snapshot.get("banner"),
        emulated=emulated,
        source=source,
        source_commit=_said(source["commitSubject"], source["commitAuthor"]),
        diagnostics=source.get("diagnostics") or [],
        resources=resources,
        synced=sum(1 for r in resources if r.get("syncStatus") == "Synced"),
        cards=_cards(resources),
        views=[_view(r, i, snapshot, bool(emulated)) for i, r in enumerate(resources)],
    )
