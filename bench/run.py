"""The benchmark of issue 17: what a user waits for, each figure against what they would do instead, in
the same run, and against the floor where there is one.

    python bench/run.py                  # everything (about 10 minutes on 2 cores), prints the tables
    python bench/run.py --quick          # fewer runs and sweep steps, no changelog or rebuild (~4 minutes)
    python bench/run.py --only 2,7       # some sections (numbers below)
    python bench/run.py --markdown       # the tables as Markdown (docs/benchmarks.md)
    python bench/run.py --json out.json  # also every figure, run and breakdown as JSON
    python bench/run.py --table-from out.json [--markdown]   # re-print the tables of a saved run

It measures the code it runs with: the `invoke` next to this interpreter (a virtualenv with this checkout
installed editable measures this checkout's src/). The engine is DOCKER_HOST's (default the local
socket; started with scripts/services.sh if that is down); the registry is the bench's own on
127.0.0.1:5055 (state in /tmp/image-release-bench/services, stopped and deleted at the end), so no test
run's traffic mixes with the counts. Only loopback is used. Exit 1 when a target is missed.

The baselines are the docker CLI written two ways: `docker tag` + `docker push` per tag (the process
document's GitLab job, "tag+push"), and what a user who knows the CLI writes: one build with a `-t` per
tag, then `docker push --all-tags` ("--all-tags"); ratios in the first table are ours / --all-tags.

Sections (targets from issue 17, and issue 8 for 4 and 6):
0. the bench proxy itself: what it adds to each kind of request (it must treat both sides alike).
1. start-up: `invoke --list` here vs with an empty tasks.py (<= 1.15x); no heavy SDK at import.
2. registry requests (bench/traffic.py): tag sweep 1/4/12/50, image sweep 1/2/3; per extra tag 1.0;
   a 4-tag release and each extra image at most what --all-tags costs.
3. end to end (bench/e2e.py): release wall time with the registry 0/20/50/100 ms away; at 0 ms
   <= 1.5x --all-tags, at 50 ms <= 0.8x; then ours step by step (bench/breakdown.py).
4. changelog of 20,000 commits / 500 tags (bench/changelog_bench.py): < 1 s.
5. peak memory of a release's process tree: < 100 MB.
6. a second `invoke build` with nothing changed vs `docker build` of the same: <= 1.0x.
7. 5,000 tags behind a paginating registry (bench/many_tags.py): the floating-tag guard and
   `invoke clean --keep 10 --dry-run`, each <= 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h  # noqa: E402
from harness import INVOKE, REGISTRY, ROOT, STATE, TAG, Results, Row, interleaved, run, say, table  # noqa: E402

HEAVY = ("docker", "github", "gitlab")
LIST_TARGET = 1.15


@dataclass(frozen=True)
class Config:
    runs: int
    tag_sweep: tuple[int, ...]
    image_sweep: tuple[int, ...]
    latencies: tuple[int, ...]
    breakdown_at: tuple[int, ...]
    many_runs: int
    memory_runs: int
    sections: frozenset[str]


FULL = Config(5, (1, 4, 12, 50), (1, 2, 3), (0, 20, 50, 100), (0, 50), 3, 2,
              frozenset("01234567"))
QUICK = Config(2, (1, 4, 12), (1, 2), (0, 50), (50,), 1, 1, frozenset("012357"))


# ------------------------------------------------------------------------------------------- sections


def section_proxy(res: Results) -> None:
    """The proxy must add the same small time to every kind of request, whichever way a client uses
    its connections, or the comparison favours one side (as Nagle's 44 ms did on reused connections)."""
    import proxy

    say("bench 0: what the bench proxy adds per request")
    out = proxy.overhead(REGISTRY)
    worst = max(out, key=lambda k: out[k]["added_ms"])
    res.add("0", "bench proxy, no delay: time it adds to a request, worst kind", out[worst]["added_ms"], "ms",
            "< 5 ms, every kind", all(v["added_ms"] < 5 for v in out.values()), table="other",
            note=f"worst: {worst}; " + _overhead_note(out))
    res.details["proxy_overhead_0ms"] = out
    # With a delay, a loaded machine oversleeps by a few ms; what must hold is that it does so alike for
    # every kind of request and connection, so neither side is charged more than the other.
    out = proxy.overhead(REGISTRY, delay=0.05)
    added = [v["added_ms"] for v in out.values()]
    res.add("0", "bench proxy, 50 ms delay: spread of the time added between kinds", max(added) - min(added), "ms",
            "< 5 ms", max(added) - min(added) < 5, table="other",
            note="time added beyond the 50 ms, by kind: " + _overhead_note(out))
    res.details["proxy_overhead_50ms"] = out


def _overhead_note(out: dict) -> str:
    return "; ".join(f"{k}: direct {v['direct_ms']:.1f} ms, proxy {v['proxy_ms']:.1f} ms, added "
                     f"{v['added_ms']:.1f} ms" for k, v in out.items())


def section_startup(res: Results, runs: int) -> None:
    say("bench 1: start-up")
    empty = STATE / "empty-tasks"
    empty.mkdir(parents=True, exist_ok=True)
    (empty / "tasks.py").write_text("")
    cpu: dict[str, list[float]] = {"ours": [], "empty": [], "version": []}

    def timed(key: str, argv: list[str], cwd: Path, check: bool = True) -> float:
        r = run(argv, cwd, check=check)
        cpu[key].append(r.cpu)
        return r.seconds

    times = interleaved({
        "ours": lambda: timed("ours", [INVOKE, "--list"], ROOT),
        # An empty tasks.py: invoke says "No tasks found" and exits 1; the time is what counts.
        "empty": lambda: timed("empty", [INVOKE, "--list"], empty, check=False),
        # `version` in this repository reads only git (no image configured here, so no registry read).
        "version": lambda: timed("version", [INVOKE, "version", "--tag", TAG], ROOT),
    }, max(runs * 3, 9))
    ours, base, version = (statistics.median(times[k]) for k in ("ours", "empty", "version"))
    c_ours, c_base, c_version = (statistics.median(cpu[k]) for k in ("ours", "empty", "version"))
    res.add("1", "invoke --list (median wall)", ours, "s", f"<= {LIST_TARGET}x empty", ours / base <= LIST_TARGET,
            baseline=base, table="other",
            note=f"{len(times['ours'])} interleaved runs; baseline: invoke --list with an empty tasks.py; "
                 f"CPU time (user+sys) ours {c_ours * 1000:.0f} ms vs {c_base * 1000:.0f} ms = {c_ours / c_base:.2f}x")
    res.add("1", "invoke version --tag v1.2.3 (median wall)", version, "s", "-", None, baseline=base, table="other",
            note=f"baseline: invoke --list with an empty tasks.py; CPU time {c_version * 1000:.0f} ms "
                 f"({c_version / c_base:.2f}x)")
    res.details["invoke_used"] = INVOKE
    res.details["startup_runs_s"] = times
    res.details["startup_cpu_s"] = cpu
    _imports(res)


def _imports(res: Results) -> None:
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import image_release.tasks"],
                         capture_output=True, text=True, env=h.env(), cwd=ROOT, check=True).stderr
    mods: dict[str, tuple[int, int]] = {}
    for line in out.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m:
            mods[m.group(4)] = (int(m.group(1)), int(m.group(2)))
    tops: dict[str, int] = {}
    for name, (self_us, _cum) in mods.items():
        top = name.split(".")[0]
        tops[top] = tops.get(top, 0) + self_us
    heavy_found = sorted({n.split(".")[0] for n in mods} & set(HEAVY))
    biggest = sorted(tops.items(), key=lambda kv: -kv[1])[:10]
    res.add("1", "heavy SDKs imported by `import image_release.tasks`", len(heavy_found), "",
            "0 of docker, github, gitlab", not heavy_found, table="other",
            note=("imported: " + ", ".join(heavy_found)) if heavy_found else "none of docker, github, gitlab")
    res.details["importtime_top_packages_ms"] = {k: round(v / 1000, 1) for k, v in biggest}
    res.details["importtime_total_ms"] = round(mods.get("image_release.tasks", (0, 0))[1] / 1000, 1)


def section_changelog(res: Results, runs: int) -> None:
    say("bench 4: changelog, 20,000 commits / 500 tags (bench/changelog_bench.py collect())")
    import changelog_bench as cb

    out = cb.collect(runs=runs)
    f = out["figures"]
    base = f["baseline"]
    res.details["changelog"] = out
    target = f"< {cb.TARGET_S:g} s"
    for key in ("combined", "typical", "backport", "after_backport"):
        x = f[key]
        res.add("4", f"changelog: {x['label']}", x["wall_s"], "s", target, x["wall_s"] < cb.TARGET_S,
                baseline=base["wall_s"], table="other",
                note=f"{x['commits']} commits, {x['git_processes']} git processes, CPU {x['cpu_s'] * 1000:.0f} ms; "
                     f"baseline: {base['label']}")
    w = f["worst"]
    res.add("4", f"changelog: {w['label']}", w["wall_s"], "s", "reported", None, table="other",
            note=f"{w['commits']} commits into the notes, cut to the forge limit; {w['git_processes']} git process")
    c = f["combined"]
    res.add("4", "git processes for a release's changelog", c["git_processes"], "", "1 where possible",
            c["git_processes"] <= 1, baseline=base["git_processes"], table="other",
            note="ours (release_history): the tag list + one git log --boundary; baseline: git describe + git log")


def section_cache(res: Results, runs: int) -> None:
    n = max(runs * 2, 7)
    say(f"bench 6: warm rebuild, {n} runs per side")
    d = h.project(f"cache-{h.uid()}", f"{REGISTRY}/bench/cache-{h.uid()}")
    ref = f"bench-local:cache-{d.name}"
    (STATE / "empty-tasks").mkdir(parents=True, exist_ok=True)
    (STATE / "empty-tasks" / "tasks.py").write_text("")
    times = interleaved({
        "ours": lambda: h.invoke(d, "build").seconds,
        "docker": lambda: run(["env", "DOCKER_BUILDKIT=1", h.DOCKER, "build", "--network", "host", "-t", ref, "."],
                              d).seconds,
        "floor": lambda: run([INVOKE, "--list"], STATE / "empty-tasks", check=False).seconds,
    }, n, warm=2)
    ours, base, floor = (statistics.median(times[k]) for k in ("ours", "docker", "floor"))
    res.add("6", "warm rebuild, nothing changed (median)", ours, "s", "<= 1.0x docker build", ours / base <= 1.0,
            baseline=base, table="other",
            note=f"invoke build vs DOCKER_BUILDKIT=1 docker build of the same Dockerfile; best: ours "
                 f"{min(times['ours']) * 1000:.0f} ms, docker build {min(times['docker']) * 1000:.0f} ms")
    res.add("6", "  floor: `invoke --list` with an empty tasks.py", floor, "s", "-", None, baseline=base,
            table="other", note="Python and Invoke starting and finding no task: no Invoke task can be faster")
    res.details["cache_runs_s"] = times


# ------------------------------------------------------------------------------------------------ main


def machine() -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), "")
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    mem = next((ln.split()[1] for ln in meminfo if ln.startswith("MemTotal")), "0")
    docker_v = h.quiet([h.DOCKER, "version", "--format", "{{.Client.Version}} / {{.Server.Version}}"]).strip()
    reg = subprocess.run(["docker-registry", "--version"], capture_output=True, text=True,
                         check=False) if shutil.which("docker-registry") else None
    import invoke as _inv

    return {
        "cpu": cpu, "cpus": os.cpu_count(), "memory_gb": round(int(mem) / 1024 / 1024, 1),
        "kernel": platform.release(), "python": platform.python_version(), "invoke": _inv.__version__,
        "docker_cli_engine": docker_v, "docker_host": h.DOCKER_HOST, "registry": reg.stdout.strip() if reg else "",
        "load_before": os.getloadavg(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="image-release benchmarks (issue 17)")
    ap.add_argument("--quick", action="store_true",
                    help="for development: 2 runs, tags 1/4/12, images 1/2, latency 0/50, no sections 4 and 6")
    ap.add_argument("--runs", type=int, help="repetitions of each timed figure (default 5; --quick 2)")
    ap.add_argument("--only", help="sections to run, e.g. 1,7 (default all; --quick: 0,1,2,3,5,7)")
    ap.add_argument("--latency-ms", help="the end-to-end latencies, e.g. 0,50 (default 0,20,50,100)")
    ap.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    ap.add_argument("--json", metavar="FILE", help="also write all figures and details to FILE")
    ap.add_argument("--keep", action="store_true", help="keep the bench registry running afterwards")
    ap.add_argument("--no-bytecode-cache", action="store_true",
                    help="run the tool as the shell has it (PYTHONDONTWRITEBYTECODE kept): every run compiles")
    ap.add_argument("--table-from", metavar="FILE", help="only print the tables of a saved --json FILE")
    return ap.parse_args(argv)


def _config(args: argparse.Namespace) -> Config:
    c = QUICK if args.quick else FULL
    fields = dict(c.__dict__)
    if args.runs:
        fields["runs"] = args.runs
    if args.only:
        fields["sections"] = frozenset(s.strip() for s in args.only.split(",") if s.strip())
    if args.latency_ms:
        fields["latencies"] = tuple(int(x) for x in args.latency_ms.split(",") if x.strip())
    return Config(**fields)


def _sections(res: Results, c: Config) -> None:
    import e2e
    import many_tags
    import traffic

    steps = [
        ("0", lambda: section_proxy(res)),
        ("1", lambda: section_startup(res, c.runs)),
        ("2", lambda: traffic.section_traffic(res, c.tag_sweep, c.image_sweep)),
        ("3", lambda: e2e.section_e2e(res, c.runs, c.latencies, c.breakdown_at)),
        ("5", lambda: e2e.section_memory(res, c.memory_runs)),
        ("7", lambda: many_tags.section_many_tags(res, c.many_runs)),
        ("4", lambda: section_changelog(res, c.runs)),
        ("6", lambda: section_cache(res, c.runs)),
    ]
    for key, fn in steps:
        if key in c.sections:
            t = time.perf_counter()
            fn()
            res.details.setdefault("section_seconds", {})[key] = round(time.perf_counter() - t, 1)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    if args.table_from:
        saved = json.loads(Path(args.table_from).read_text())
        print(table([Row(**r) for r in saved["rows"]], markdown=args.markdown))
        return 0
    h.OPTIONS["no_bytecode"] = args.no_bytecode_cache
    c = _config(args)
    res = Results()
    t0 = time.perf_counter()
    needs_services = bool(c.sections - {"1", "4"})
    if needs_services:
        h.services_start()
    try:
        res.details["machine"] = machine() if needs_services else {}
        res.details["config"] = {k: sorted(v) if isinstance(v, frozenset) else v for k, v in c.__dict__.items()}
        _sections(res, c)
    finally:
        t_clean = time.perf_counter()
        if needs_services:
            say("bench: removing what it pushed and built, and its registry")
            h.cleanup_images(f"{REGISTRY}/bench/")
            h.cleanup_images("bench-local")
            for host in h.PROXY_HOSTS:  # the refs pushed through a proxy
                h.cleanup_images(f"{host}/bench/")
            shutil.rmtree(STATE / "projects", ignore_errors=True)
            if not args.keep:
                h.services_stop()
        res.details["cleanup_seconds"] = round(time.perf_counter() - t_clean, 1)
    res.details["total_seconds"] = round(time.perf_counter() - t0, 1)
    res.details["load_after"] = os.getloadavg()
    res.rows.sort(key=lambda r: r.section)
    print(table(res.rows, markdown=args.markdown))
    if not args.markdown:
        print()
        for r in res.rows:
            if r.note:
                print(f"[{r.section}] {r.figure}: {r.note}")
    say(f"bench: {res.details['total_seconds']:.0f} s in all")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"rows": [r.__dict__ for r in res.rows], "details": res.details}, indent=2, default=str))
    return 1 if any(r.met is False for r in res.rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
