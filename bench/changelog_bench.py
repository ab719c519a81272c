"""Benchmark: the changelog of a 20,000-commit, 500-tag repository (issue 8, item 4).

    python bench/changelog_bench.py [--json] [--runs 5] [--rebuild]

Builds the repository once with ``git fast-import`` (about 10 s) and caches it under
/tmp/image-release-bench/: a main line of 19,995 commits with a merged pull request every 200
commits and a version tag every 40 (v0.0.0 .. v4.9.7, every other one annotated, then v5.0.0 at
the tip), and a maintenance branch of 5 commits from v4.9.7 tagged v4.9.8, never merged.

Each scenario is what a release does for its notes: find the previous release, read the commits,
build_changelog, render_notes, limit_body. Median of ``--runs`` (wall and CPU time, CPU counting
this process and its git children), and the git processes spawned:

- typical: v4.9.7 (40 commits since v4.9.6), once through previous_release + commits_between
  (3 git processes) and once through release_history (2);
- backport: v4.9.8 on its branch (previous v4.9.7);
- after a backport: v5.0.0, whose highest candidate v4.9.8 is not an ancestor (the slow path);
- worst: v5.0.0 as a first release (19,995 commits rendered, then cut to 125,000 characters);
  informational, a release's changelog is the target;
- baseline: what a shell script does, ``git describe --tags --abbrev=0 TAG^`` then
  ``git log --oneline PREV..TAG`` (no grouping, no rendering).

Target: a release's changelog under one second.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from image_release.adapters import git_history  # noqa: E402
from image_release.core.changelog import RepoLinks, build_changelog  # noqa: E402
from image_release.core.notes import MovedTag, NotesInput, limit_body, render_notes  # noqa: E402

COMMITS = 20_000
TAGS = 500
LAYOUT = 4  # bump when the generated repository changes, to rebuild the cache
CACHE = Path("/tmp/image-release-bench") / f"changelog-{COMMITS}-{TAGS}-v{LAYOUT}"
TARGET_S = 1.0
BACKPORT_COMMITS = 5


def _version(i: int) -> str:
    return f"v{i // 100}.{(i // 10) % 10}.{i % 10}"


TYPICAL = _version(TAGS - 3)  # v4.9.7: a release on main, 40 commits after v4.9.6
BACKPORT = _version(TAGS - 2)  # v4.9.8: on a maintenance branch from v4.9.7
NEXT_MAJOR = "v5.0.0"  # main after the backport: its highest candidate (v4.9.8) is no ancestor

TYPES = ["feat", "fix", "fix", "chore", "docs", "refactor", "perf", "test", "ci", None]
SCOPES = [None, "api", "ui", "db", "cli"]


def _data(text: str) -> bytes:
    raw = text.encode()
    return b"data %d\n" % len(raw) + raw + b"\n"


def _message(n: int) -> str:
    t = TYPES[n % len(TYPES)]
    s = SCOPES[n % len(SCOPES)]
    if t is None:
        return f"Update component {n}\n\nFree-form message without a type."
    head = f"{t}({s})" if s else t
    if n % 997 == 0:
        return f"{head}!: rework part {n}\n\nLonger explanation.\n\nBREAKING CHANGE: part {n} changed its API"
    if n % 7 == 0:
        return f"{head}: change {n} (#{n // 7})\n\nDetails of change {n}.\nSecond line."
    return f"{head}: change {n}"


def _stream() -> bytes:
    """A fast-import stream: a main line with a merged pull request every 200 commits, and a
    version tag every 40 commits (every other one annotated)."""
    out: list[bytes] = []
    ts = 1_600_000_000
    mark = 0
    main_tip = 0
    made = 0
    tags = 0
    pr = 0

    def commit(branch: str, msg: str, parents: list[int]) -> int:
        nonlocal mark, ts
        mark += 1
        ts += 60
        who = f"Dev {mark % 13} <dev{mark % 13}@example.invalid> {ts} +0000\n".encode()
        out.append(b"commit refs/heads/%s\nmark :%d\nauthor " % (branch.encode(), mark) + who + b"committer " + who)
        out.append(_data(msg))
        if parents:
            out.append(b"from :%d\n" % parents[0])
            for p in parents[1:]:
                out.append(b"merge :%d\n" % p)
        out.append(b"M 100644 inline src/file%d.txt\n" % (mark % 97))
        out.append(_data(f"content {mark}\n"))
        out.append(b"\n")
        return mark

    def tag(name: str, at: int, annotated: bool) -> None:
        if annotated:
            out.append(b"tag %s\nfrom :%d\ntagger Rel <rel@example.invalid> %d +0000\n" % (name.encode(), at, ts))
            out.append(_data(f"Release {name}"))
        else:
            out.append(b"reset refs/tags/%s\nfrom :%d\n\n" % (name.encode(), at))

    main_commits = COMMITS - BACKPORT_COMMITS
    branch_point = 0
    while made < main_commits:
        if made and made % 200 == 0 and made + 3 <= main_commits:
            pr += 1
            a = commit("side", _message(made), [main_tip])
            b = commit("side", f"fix typo in change {made}", [a])
            main_tip = commit("main", f"Merge pull request #{10_000 + pr} from dev/topic-{pr}\n\nfeat(topic): topic {pr}",
                              [main_tip, b])
            made += 3
        else:
            main_tip = commit("main", _message(made), [main_tip] if main_tip else [])
            made += 1
        if made % (COMMITS // TAGS) == 0 and tags < TAGS - 2:
            tag(_version(tags), main_tip, annotated=bool(tags % 2))
            tags += 1
            branch_point = main_tip
    tag(NEXT_MAJOR, main_tip, annotated=True)  # the newest release on main
    tip = branch_point  # a maintenance branch from the last minor tag, never merged into main
    for i in range(BACKPORT_COMMITS):
        tip = commit("release", f"fix(security): backported fix {i}", [tip])
    tag(BACKPORT, tip, annotated=True)
    out.append(b"done\n")
    return b"".join(out)


def build(rebuild: bool = False) -> Path:
    marker = CACHE / ".complete"
    if marker.exists() and not rebuild:
        return CACHE
    if CACHE.exists():
        subprocess.run(["rm", "-rf", str(CACHE)], check=True)
    CACHE.mkdir(parents=True)
    t0 = time.perf_counter()
    subprocess.run(["git", "init", "-q", "-b", "main", str(CACHE)], check=True)
    subprocess.run(["git", "-C", str(CACHE), "fast-import", "--quiet", "--done"], input=_stream(), check=True)
    subprocess.run(["git", "-C", str(CACHE), "branch", "-q", "-D", "side", "release"], check=True)
    marker.write_text("ok\n")
    print(f"built {CACHE} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return CACHE


class GitCounter:
    """Counts git processes by wrapping subprocess.Popen."""

    def __init__(self) -> None:
        self.count = 0
        self._orig = subprocess.Popen

    def __enter__(self) -> "GitCounter":
        counter = self
        orig = self._orig

        class Counting(orig):  # type: ignore[misc, valid-type]
            def __init__(self, args, *a, **kw):
                argv = args if isinstance(args, (list, tuple)) else [args]
                if argv and os.path.basename(str(argv[0])) == "git":
                    counter.count += 1
                super().__init__(args, *a, **kw)

        subprocess.Popen = Counting  # type: ignore[misc]
        return self

    def __exit__(self, *exc) -> None:
        subprocess.Popen = self._orig  # type: ignore[misc]


def notes_input(tag: str, prev: str | None, cl) -> NotesInput:
    version = tag[1:]
    major, minor, _ = version.split(".")
    img = "ghcr.io/o/app"
    tags = (version, f"{major}.{minor}", major, "latest")
    return NotesInput(
        project="bench", version=version, tag=tag, previous_tag=prev, images=(img,),
        published=tuple(f"{img}:{t}" for t in tags), digest="sha256:" + "0" * 64,
        moved_tags=tuple(MovedTag(k, t) for k, t in zip(("version", "minor", "major", "latest"), tags)),
        ports=("8000:8000",), env=("APP_TOKEN",), platforms=("linux/amd64", "linux/arm64"),
        changelog=cl, date="2026-11-29",
    )


def release_notes(repo: Path, tag: str, *, first: bool = False, combined: bool = False) -> tuple[int, int]:
    """What a release does for its notes. Returns (commits, body characters)."""
    if first:
        prev, commits = None, git_history.commits_between(repo, None, tag)
    elif combined:
        rng = git_history.release_history(repo, tag)
        prev, commits = rng.previous, rng.commits
    else:
        prev = git_history.previous_release(repo, tag)
        commits = git_history.commits_between(repo, prev, tag)
    cl = build_changelog(commits, tag=tag, previous_tag=prev, links=RepoLinks("https://github.com/o/r"))
    body = limit_body(render_notes(notes_input(tag, prev, cl)))
    return len(commits), len(body)


def shell_baseline(repo: Path, tag: str) -> int:
    prev = subprocess.run(["git", "-C", str(repo), "describe", "--tags", "--abbrev=0", f"{tag}^"],
                          capture_output=True, text=True, check=True).stdout.strip()
    out = subprocess.run(["git", "-C", str(repo), "log", "--oneline", f"{prev}..{tag}"],
                         capture_output=True, text=True, check=True).stdout
    return len(out.splitlines())


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def measure(fn, runs: int):
    """Median wall time, median CPU time (this process and its git children), git processes."""
    walls, cpus, procs, result = [], [], [], None
    for _ in range(runs):
        with GitCounter() as gc:
            c0 = _cpu()
            t0 = time.perf_counter()
            result = fn()
            walls.append(time.perf_counter() - t0)
            cpus.append(_cpu() - c0)
        procs.append(gc.count)
    return statistics.median(walls), statistics.median(cpus), max(procs), result


def collect(runs: int = 5, rebuild: bool = False) -> dict:
    """Run every scenario; the figures as a dict (for this script's table and for bench/run.py).

    ``result["figures"][key]`` has ``wall_s``, ``cpu_s``, ``git_processes``, ``commits``, ``chars``
    and ``label`` for key in typical, combined, backport, after_backport, worst, baseline."""
    repo = build(rebuild)
    tags = git_history.version_tags(repo)
    release_notes(repo, TYPICAL)  # warm: imports, Jinja2 compile, page cache

    scenarios = [
        (f"typical ({TYPICAL}): previous_release + commits_between", "typical", lambda: release_notes(repo, TYPICAL)),
        (f"typical ({TYPICAL}): release_history", "combined", lambda: release_notes(repo, TYPICAL, combined=True)),
        (f"backport ({BACKPORT} on a maintenance branch)", "backport", lambda: release_notes(repo, BACKPORT, combined=True)),
        (f"after a backport ({NEXT_MAJOR}, top candidate no ancestor)", "after_backport",
         lambda: release_notes(repo, NEXT_MAJOR, combined=True)),
        (f"worst ({NEXT_MAJOR} as a first release: whole history)", "worst",
         lambda: release_notes(repo, NEXT_MAJOR, first=True)),
        (f"baseline ({TYPICAL}): git describe + git log --oneline", "baseline", lambda: shell_baseline(repo, TYPICAL)),
    ]
    figures = {}
    for label, key, fn in scenarios:
        wall, cpu, procs, res = measure(fn, runs)
        commits, chars = res if isinstance(res, tuple) else (res, 0)
        figures[key] = {"label": label, "wall_s": round(wall, 4), "cpu_s": round(cpu, 4), "git_processes": procs,
                        "commits": commits, "chars": chars}
    total_commits = subprocess.run(["git", "-C", str(repo), "rev-list", "--count", "--all"],
                                   capture_output=True, text=True, check=True).stdout.strip()
    # The target is a release's changelog; the whole-history case is reported, not judged.
    met = all(figures[k]["wall_s"] < TARGET_S for k in ("typical", "combined", "backport", "after_backport"))
    return {
        "repository": str(repo), "commits": int(total_commits), "tags": len(tags), "runs": runs,
        "figures": figures, "target_s": TARGET_S, "met": met,
        "ratio_typical_to_baseline": round(figures["combined"]["wall_s"] / figures["baseline"]["wall_s"], 2),
        "load_average": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached repository")
    args = ap.parse_args(argv)

    result = collect(args.runs, args.rebuild)
    if args.json:
        print(json.dumps(result))
        return 0
    figures = result["figures"]
    print(f"changelog benchmark: {result['commits']} commits, {result['tags']} version tags, "
          f"median of {args.runs} runs")
    print(f"{'scenario':58} {'wall':>9} {'cpu':>9} {'git procs':>9}  detail")
    for f in figures.values():
        detail = f"{f['commits']} commits, {f['chars']:,} chars" if f["chars"] else f"{f['commits']} commits, no notes"
        print(f"{f['label']:58} {f['wall_s'] * 1000:7.1f}ms {f['cpu_s'] * 1000:7.1f}ms {f['git_processes']:9d}  {detail}")
    print(f"load average: {result['load_average']:.2f} on {result['cpus']} CPUs (wall times grow with it; cpu times less)")
    print(f"target: a release's changelog under {TARGET_S:.0f} s -> {'met' if result['met'] else 'MISSED'}"
          f" (the whole-history row is informational: {figures['worst']['wall_s']:.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
