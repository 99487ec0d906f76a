"""Memory of one revision at the budget: peak RSS while a Git commit is read and loaded.

A repository of valid service files with their task definitions (validate_files.py's),
adding up to just under the revision budget (default 32 MiB), is committed, then read
the way `run` reads it (open_source -> fetch -> load_tree) in a fresh interpreter whose
peak RSS (ru_maxrss) and times are reported, next to its RSS after imports alone. A
second commit one service over the budget shows what a refused revision costs. The
controller's task has 512 MiB. Prints JSON.

    .venv/bin/python bench/revision_memory.py [--budget-mib 32]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from validate_files import SERVICE, task_definition  # bench/ is the script's directory

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
}  # fmt: skip


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, env=GIT_ENV, capture_output=True)


def write_services(root: Path, budget: int) -> tuple[int, int]:
    """Services (a YAML file and its task definition JSON each) until one more would go
    over budget: (services, bytes)."""
    root.mkdir(parents=True)
    total = count = 0
    while True:
        service = SERVICE.format(i=count, team=count % 7, cluster=count % 5).encode()
        td = json.dumps(task_definition(count), indent=2).encode()
        if total + len(service) + len(td) > budget:
            return count, total
        (root / f"svc-{count:04d}.yaml").write_bytes(service)
        (root / f"svc-{count:04d}.json").write_bytes(td)
        total += len(service) + len(td)
        count += 1


def child(spec: str, budget: int) -> dict[str, Any]:
    """Runs in a fresh interpreter: read and load spec, report RSS and times."""
    import asyncio

    from controller.errors import SourceError
    from controller.loader import load_tree
    from controller.sources.base import open_source

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    source = open_source(spec, cache_dir=Path(tempfile.gettempdir()), max_revision_bytes=budget)
    try:
        artifact = asyncio.run(source.fetch())
    except SourceError as exc:
        return {
            "refused": str(exc),
            "refuse_seconds": round(time.perf_counter() - started, 3),
            "imports_rss_mib": round(baseline / 1024, 1),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
    fetched = time.perf_counter()
    after_fetch = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = load_tree(artifact.tree)
    loaded = time.perf_counter()
    return {
        "services_loaded": len(result.loaded),
        "errors": len(result.errors),
        "fetch_seconds": round(fetched - started, 3),
        "load_seconds": round(loaded - fetched, 3),
        "imports_rss_mib": round(baseline / 1024, 1),
        "after_fetch_peak_rss_mib": round(after_fetch / 1024, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def measure(spec: str, budget: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", spec, "--budget-bytes", str(budget)],
        check=True,
        capture_output=True,
        text=True,
    )
    figures: dict[str, Any] = json.loads(out.stdout)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-mib", type=float, default=32.0)
    parser.add_argument("--budget-bytes", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    budget = args.budget_bytes or int(args.budget_mib * 1024 * 1024)
    if args.child:
        print(json.dumps(child(args.child, budget)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        services, total = write_services(repo / "deploy", budget)
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "at the budget")
        spec = f"git+file://{repo}#ref=main&path=deploy/"
        at_budget = measure(spec, budget)
        (repo / "deploy" / "over.yaml").write_text("# one more file\n" * 2048)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "over the budget")
        over = measure(spec, budget)
    report = {
        "benchmark": "revision_memory",
        "budget_bytes": budget,
        "revision_bytes": total,
        "service_files": services,
        "files": services * 2,
        "at_budget": at_budget,
        "over_budget": over,
        "task_memory_mib": 512,
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(report, indent=2))
    ok = at_budget.get("errors") == 0 and at_budget.get("services_loaded") == services
    return 0 if ok and "refused" in over else 1


if __name__ == "__main__":
    sys.exit(main())
