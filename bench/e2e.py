"""Sections 3 and 5 of the benchmark: a whole release end to end, and its peak memory.

3. Wall time of `invoke release --tag v1.2.3` (build, push, 4 tags, notes to a file) against
   bench/docker_cli_release.sh both ways (tag+push per tag; --all-tags), interleaved, every release to a
   fresh repository with fresh layers, the registry behind bench/proxy.py delaying every request by 0, 20,
   50 and 100 ms (the 0 ms run goes through the proxy too, so every figure carries the same proxy).
   Targets (issue 17): at 0 ms at most 1.5x the --all-tags script, at 50 ms at most 0.8x.
   Then ours again, step by step in-process (bench/breakdown.py), at 0 ms and 50 ms: where its time goes.
5. Peak memory of the release's process tree (RSS summed over the tree, /proc sampled every 20 ms),
   against both scripts' trees. Target: under 100 MB.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

from harness import (
    BENCH, INVOKE, PROXY_HOSTS, REGISTRY, STYLES, TAG, Results, env, interleaved, invoke, project, run, say,
    script_release, uid,
)
from proxy import CountingProxy

TARGETS = {0: 1.5, 50: 0.8}  # latency (ms) -> at most this ratio to the --all-tags script
MEMORY_TARGET_MB = 100


CPU: dict[str, list[float]] = {}  # user+sys seconds of each timed run's process tree (dockerd not in it)


def _ours(host: str) -> float:
    d = project(f"e2e-ours-{uid()}", f"{host}/bench/e2e-ours-{uid()}")
    r = invoke(d, "release", "--tag", TAG)
    if not (d / "dist/release-notes-1.2.3.md").is_file():
        raise RuntimeError(f"invoke release wrote no notes file:\n{r.output[-2000:]}")
    CPU.setdefault("ours", []).append(r.cpu)
    return r.seconds


def _script(host: str, style: str) -> float:
    d = project(f"e2e-{style}-{uid()}", "unused")
    r = script_release(d, f"{host}/bench/e2e-{style}-{uid()}", style)
    CPU.setdefault(style, []).append(r.cpu)
    return r.seconds


def section_e2e(res: Results, runs: int, latencies: tuple[int, ...], breakdown_at: tuple[int, ...]) -> None:
    res.details["e2e_runs_s"] = {}
    for ms in latencies:
        n = runs if ms <= 20 else max(runs - 2, 3)
        say(f"bench 3: end to end, registry {ms} ms away, {n} runs per side (+1 warm-up)")
        with CountingProxy(REGISTRY, delay=ms / 1000) as proxy:
            PROXY_HOSTS.append(proxy.host)
            fns = {"ours": lambda: _ours(proxy.host)}
            fns.update({s: (lambda s=s: _script(proxy.host, s)) for s in STYLES})
            CPU.clear()
            times = interleaved(fns, n)
        cpu = {k: statistics.median(v[1:]) for k, v in CPU.items()}  # not the warm-up run
        o, tp, at = (statistics.median(times[k]) for k in ("ours", *STYLES))
        target = TARGETS.get(ms)
        res.add("3", f"release wall time, registry {ms} ms away (median)", o, "s",
                f"<= {target}x --all-tags" if target else "-", (o / at <= target) if target else None,
                tag_push=tp, all_tags=at,
                note=f"{n} interleaved runs, fresh repository and layers each; best: ours "
                     f"{min(times['ours']) * 1000:.0f} ms, tag+push {min(times['tag-push']) * 1000:.0f} ms, "
                     f"--all-tags {min(times['all-tags']) * 1000:.0f} ms; ours / tag+push {o / tp:.2f}x; CPU "
                     f"(user+sys of the process tree, dockerd not in it): ours {cpu['ours'] * 1000:.0f} ms, "
                     f"tag+push {cpu['tag-push'] * 1000:.0f} ms, --all-tags {cpu['all-tags'] * 1000:.0f} ms; every "
                     f"registry request delayed {ms} ms by bench/proxy.py")
        res.details["e2e_runs_s"][ms] = times
        res.details.setdefault("e2e_cpu_s", {})[ms] = dict(CPU)
    res.details["e2e_breakdown"] = {}
    for ms in breakdown_at:
        with CountingProxy(REGISTRY, delay=ms / 1000) as proxy:
            PROXY_HOSTS.append(proxy.host)
            res.details["e2e_breakdown"][ms] = breakdown(proxy.host, "release", "--tag", TAG)


def breakdown(host: str, *args: str, repeat: int = 3) -> dict:
    """More runs (not among the timed ones), timed step by step in-process (bench/breakdown.py); the
    median of each phase over ``repeat`` runs."""
    results = []
    for _ in range(repeat):
        d = project(f"breakdown-{uid()}", f"{host}/bench/breakdown-{uid()}")
        if args[0] == "build":
            invoke(d, "build")  # warm: the measured build is the second one
        p = subprocess.run([sys.executable, str(BENCH / "breakdown.py"), *args], cwd=d, env=env(),
                           capture_output=True, text=True, check=False)
        lines = p.stdout.strip().splitlines()
        if p.returncode != 0 or not lines:
            raise RuntimeError(f"bench/breakdown.py {' '.join(args)} failed:\n{p.stderr[-3000:]}")
        results.append(json.loads(lines[-1]))
    keys = list(dict.fromkeys(k for r in results for k in r["phases"]))
    phases = {k: statistics.median(r["phases"].get(k, 0.0) for r in results) for k in keys}
    cpu = {k: statistics.median(r.get("cpu", {}).get(k, 0.0) for r in results) for k in keys}
    return {"total": statistics.median(r["total"] for r in results), "phases": phases, "cpu": cpu,
            "total_cpu": statistics.median(r.get("total_cpu", 0.0) for r in results),
            "calls": results[-1]["calls"], "git_processes": results[-1]["git_processes"],
            "subprocesses": results[-1]["subprocesses"], "missing_hooks": results[-1].get("missing_hooks", []),
            "runs": repeat}


def section_memory(res: Results, runs: int) -> None:
    say("bench 5: peak memory of a release (sampled, apart from the timed runs)")
    tree: dict[str, list[float]] = {"ours": [], **{s: [] for s in STYLES}}
    single: dict[str, list[float]] = {k: [] for k in tree}
    for _ in range(runs):
        d = project(f"mem-ours-{uid()}", f"{REGISTRY}/bench/mem-ours-{uid()}")
        r = run([INVOKE, "release", "--tag", TAG], d, sample=True)
        tree["ours"].append(r.tree_peak_mb)
        single["ours"].append(r.maxrss_mb)
        for style in STYLES:
            d = project(f"mem-{style}-{uid()}", "unused")
            r = script_release(d, f"{REGISTRY}/bench/mem-{style}-{uid()}", style, sample=True)
            tree[style].append(r.tree_peak_mb)
            single[style].append(r.maxrss_mb)
    peak = max(tree["ours"])
    res.add("5", "peak RSS of the release process tree", peak, "MB", f"< {MEMORY_TARGET_MB} MB",
            peak < MEMORY_TARGET_MB, tag_push=max(tree["tag-push"]), all_tags=max(tree["all-tags"]),
            note=f"max of {runs} runs, /proc sampled every 20 ms (sum over the tree at one moment); largest "
                 f"single process (wait4 ru_maxrss): ours {max(single['ours']):.1f} MB, tag+push "
                 f"{max(single['tag-push']):.1f} MB, --all-tags {max(single['all-tags']):.1f} MB; dockerd and "
                 "its BuildKit are in neither tree")
    res.details["memory_tree_peak_mb"] = tree
    res.details["memory_maxrss_mb"] = single
