"""Memory of revisions at the budget: peak RSS while a Git commit is read and loaded.

A repository of valid service files with their task definitions (validate_files.py's),
adding up to just under the revision budget (default 32 MiB), is committed, then read
the way `run` reads it (open_source -> fetch -> load_tree -> tree.release, then
gc.collect and gc.freeze as Applier.apply does) in a fresh interpreter whose peak RSS
(ru_maxrss), RSS once loaded (steady) and times are reported, next to its RSS after
imports alone. Then the next revision, in which every file changed (a new image tag
and count for every service: the worst case), is read and loaded while the first one
is still held, as the controller holds the current revision while it loads the next:
its peak is what the controller's task (1 GiB in manifests/) must hold. A third commit one file over the budget
shows what a refused revision costs. Prints JSON.

    .venv/bin/python bench/revision_memory.py [--budget-mib 32]
"""

from __future__ import annotations

import argparse
import gc
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


def peak_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def rss_mib() -> float:
    """The RSS now (not the peak)."""
    with open("/proc/self/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return round(kib / 1024, 1)


def child(specs: list[str], budget: int) -> dict[str, Any]:
    """Runs in a fresh interpreter: read and load each spec in turn while the previous
    one's result is still held, report RSS and times."""
    import asyncio

    from controller.errors import SourceError
    from controller.loader import load_tree
    from controller.loader.loader import LoadResult
    from controller.sources.opening import open_source

    report: dict[str, Any] = {"imports_rss_mib": rss_mib()}
    held: LoadResult | None = None
    for n, spec in enumerate(specs):
        figures: dict[str, Any] = {}
        report["first" if n == 0 else "next_while_first_held"] = figures
        started = time.perf_counter()
        cache = Path(tempfile.gettempdir())
        source = open_source(spec, cache_dir=cache, max_revision_bytes=budget)
        try:
            artifact = asyncio.run(source.fetch())
        except SourceError as exc:
            figures["refused"] = str(exc)
            figures["refuse_seconds"] = round(time.perf_counter() - started, 3)
            figures["peak_rss_mib"] = peak_mib()
            return report
        fetched = time.perf_counter()
        figures["after_fetch_rss_mib"] = rss_mib()
        result = load_tree(artifact.tree)
        artifact.tree.release()
        loaded = time.perf_counter()
        figures |= {
            "services_loaded": len(result.loaded),
            "errors": len(result.errors),
            "fetch_seconds": round(fetched - started, 3),
            "load_seconds": round(loaded - fetched, 3),
            "peak_rss_mib": peak_mib(),
        }
        held = result  # the previous revision's result goes now, as Applier.apply's does
        del result
        gc.collect()
        gc.freeze()
        figures["steady_rss_mib"] = rss_mib()
    assert held is not None
    return report


def measure(specs: list[str], budget: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--budget-bytes", str(budget), "--child", *specs],
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
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
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
        git(repo, "checkout", "-q", "-b", "next")
        for path in (repo / "deploy").iterdir():  # same sizes: the next revision's too
            text = path.read_text()
            path.write_text(
                text.replace(":v1", ":v2").replace("desiredCount: 2", "desiredCount: 3")
            )
        git(repo, "commit", "-q", "-am", "every service changed")
        specs = [f"git+file://{repo}#ref={ref}&path=deploy/" for ref in ("main", "next")]
        at_budget = measure(specs, budget)
        (repo / "deploy" / "over.yaml").write_text("# one more file\n" * 2048)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "over the budget")
        over = measure(specs[1:], budget)["first"]
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
    ok = all(
        at_budget[n].get("errors") == 0 and at_budget[n].get("services_loaded") == services
        for n in ("first", "next_while_first_held")
    )
    return 0 if ok and "refused" in over else 1


if __name__ == "__main__":
    sys.exit(main())
