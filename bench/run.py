"""The benchmark suite of issue 8: what a user waits for, each figure against its baseline in the same run.

    python bench/run.py                 # everything (about 3 minutes), prints the table
    python bench/run.py --runs 3        # fewer repetitions for the timed figures (default 7)
    python bench/run.py --only 1,2      # some sections: 1 start-up, 2 registry traffic, 3 end to end,
                                        #   4 changelog, 5 memory (needs 3), 6 build cache
    python bench/run.py --markdown      # the table as Markdown (docs/benchmarks.md)
    python bench/run.py --json out.json # also write every figure and detail as JSON

It starts what it needs with scripts/services.sh (dockerd, the base image) and a registry of its own on
127.0.0.1:5055 (state in /tmp/image-release-bench/services, stopped again at the end), so the registry
traffic it counts and the wall times it takes are not mixed with a test run's. Every release goes to
a fresh repository name with freshly generated layer content, on both sides, so nothing is cached for one
side only. Only loopback is used.

Sections (targets from issue 8):
1. start-up: `invoke --list` here vs with an empty tasks.py (<= 1.25x); `invoke version --tag v1.2.3`;
   `python -X importtime -c "import image_release.tasks"` must not import docker, github, gitlab.
2. registry traffic of a four-tag release, counted by a proxy (bench/proxy.py) in front of the registry,
   vs the process document's `docker tag` x4 + `docker push` x4. Requests per tag after the first come from
   the difference between a four-tag and a one-tag release of each side (target: 1, the manifest PUT), with
   the default registry.verify: true and with verify: false; no blob is uploaded or checked twice.
3. wall time of `invoke release --tag v1.2.3` (build, push, tags, notes file) vs bench/docker_cli_release.sh
   (target: <= 0.8x), on loopback and with every registry request delayed (--latency-ms).
4. changelog of 20,000 commits / 500 tags (bench/changelog_bench.py): < 1 s, git processes counted.
5. peak memory of the `invoke release` process tree (sampled /proc, plus wait4's max RSS): < 150 MB.
6. a second `invoke build` with nothing changed vs `docker build` of the same (both warm): ratio <= 1.0.

Rows marked "what-if" are not the tool as shipped: bench/breakdown.py patches one fix that is not written
yet into its own process, and the same harness runs unpatched alongside, so the saving is its difference.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from proxy import CountingProxy, summarize

DOCKER = "/usr/bin/docker"  # Debian's 20.10 client: BuildKit built in (DOCKER_BUILDKIT=1)
SOCK = "unix:///var/run/docker.sock"
STATE = Path(os.environ.get("IR_BENCH_DIR", "/tmp/image-release-bench"))
REGISTRY_PORT = int(os.environ.get("IR_BENCH_REGISTRY_PORT", "5055"))
REGISTRY = f"127.0.0.1:{REGISTRY_PORT}"
TAG = "v1.2.3"
LAYERS = 3
LAYER_BYTES = 512 * 1024
HEAVY = ("docker", "github", "gitlab")
PROXY_HOSTS: list[str] = []
NO_BYTECODE = False  # --no-bytecode-cache: keep the caller's PYTHONDONTWRITEBYTECODE
# The `invoke` console script of this interpreter, as `pip install` leaves it in a virtualenv or a CI
# image, whatever PATH holds: on this machine a shell's `invoke` is a pyenv shim (bash + `pyenv exec`,
# about 70 ms per command), which a suite started through the `python` shim would not see anyway.
_OWN_INVOKE = Path(sys.executable).parent / "invoke"
INVOKE = str(_OWN_INVOKE) if _OWN_INVOKE.is_file() else "invoke"


# --------------------------------------------------------------------------------------------- rows


@dataclass
class Row:
    section: str
    figure: str
    ours: float | None
    baseline: float | None
    unit: str
    target: str
    met: bool | None  # None: no target, reported only
    ratio: float | None = None
    note: str = ""
    show_ratio: bool = True  # False where a ratio means nothing (counts that should be zero)

    def __post_init__(self):
        if not self.show_ratio:
            self.ratio = None
        elif self.ratio is None and self.ours is not None and self.baseline:
            self.ratio = self.ours / self.baseline


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    details: dict = field(default_factory=dict)

    def add(self, *a, **kw) -> Row:
        row = Row(*a, **kw)
        self.rows.append(row)
        return row


def _fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    if unit == "s":
        return f"{v * 1000:.0f} ms" if v < 10 else f"{v:.1f} s"
    if unit == "MB":
        return f"{v:.1f} MB"
    if unit == "B":
        return f"{v / 1024:.1f} KiB"
    if float(v).is_integer():
        return f"{int(v)}"
    return f"{v:.2f}"


def _md_cell(text: str) -> str:
    """A Markdown table cell: pipes escaped, leading spaces (a nested row) kept visible."""
    stripped = text.lstrip(" ")
    return "&nbsp;" * (len(text) - len(stripped)) + stripped.replace("|", "\\|")


def table(rows: list[Row], markdown: bool = False) -> str:
    head = ("#", "figure", "ours", "baseline", "ratio", "target", "met?")
    body = []
    for r in rows:
        met = "-" if r.met is None else ("yes" if r.met else "NO")
        body.append((r.section, r.figure, _fmt(r.ours, r.unit), _fmt(r.baseline, r.unit),
                     "-" if r.ratio is None else f"{r.ratio:.2f}x", r.target, met))
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        lines += ["| " + " | ".join(_md_cell(c) for c in b) + " |" for b in body]
        return "\n".join(lines)
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths)), "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(b, widths)) for b in body]
    return "\n".join(out)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------ processes


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["DOCKER_HOST"] = SOCK
    if not NO_BYTECODE:
        # As after `pip install`: bytecode cached. This sandbox sets PYTHONDONTWRITEBYTECODE=1, which
        # makes every run recompile image_release from source while invoke's own .pyc files were written
        # at install; a prefix outside the tree keeps the cache out of src/.
        e.pop("PYTHONDONTWRITEBYTECODE", None)
        e["PYTHONPYCACHEPREFIX"] = str(STATE / "pycache")
    e.pop("IMAGE_RELEASE_DEBUG", None)
    for k in ("CI", "GITHUB_ACTIONS", "GITLAB_CI"):  # a local release, whatever the shell says
        e.pop(k, None)
    return e


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree(root: int) -> list[int]:
    """``root`` and its descendants (a scan of /proc: this kernel has no task/*/children)."""
    parent: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
            parent[int(name)] = int(stat[stat.rindex(b")") + 2:].split()[1])
        except (OSError, ValueError):
            continue
    kids: dict[int, list[int]] = {}
    for pid, ppid in parent.items():
        kids.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, ()))
    return out


@dataclass
class Run:
    seconds: float
    rc: int
    cpu: float  # user + system seconds of the whole tree (wait4)
    maxrss_mb: float  # wait4: the largest single process of the tree
    tree_peak_mb: float  # sampled: the largest sum of RSS over the tree at one moment
    output: str


def run(argv: list[str], cwd: Path | str, *, sample: bool = False, check: bool = True,
        extra_env: dict | None = None) -> Run:
    e = env()
    if extra_env:
        e.update(extra_env)
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, cwd=cwd, env=e, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        peak = [0]
        stop = threading.Event()

        def sampler() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], sum(_rss_kb(pid) for pid in _tree(p.pid)))
                stop.wait(0.02)

        th = threading.Thread(target=sampler, daemon=True) if sample else None
        if th:
            th.start()
        _, status, usage = os.wait4(p.pid, 0)
        seconds = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        if th:
            stop.set()
            th.join()
        out.seek(0)
        text = out.read().decode(errors="replace")
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} failed in {cwd} (exit {p.returncode}):\n{text[-3000:]}")
    return Run(seconds, p.returncode, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, peak[0] / 1024, text)


def quiet(argv: list[str], cwd: Path | str | None = None) -> str:
    return subprocess.run(argv, cwd=cwd, env=env(), check=True, capture_output=True, text=True).stdout


def git(cwd: Path, *args: str) -> None:
    quiet(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", *args], cwd)


# ------------------------------------------------------------------------------------------- services


def services_start() -> None:
    say("bench: starting dockerd and the base image (scripts/services.sh start)")
    subprocess.run(["bash", str(ROOT / "scripts/services.sh"), "start"], check=True, stdout=subprocess.DEVNULL)
    say(f"bench: a registry of its own on {REGISTRY}")
    e = dict(os.environ, IR_SERVICES_DIR=str(STATE / "services"), IR_REGISTRY_PORT=str(REGISTRY_PORT),
             IR_SKIP_DOCKERD="1")
    subprocess.run(["bash", str(ROOT / "scripts/services.sh"), "start"], check=True, env=e, stdout=subprocess.DEVNULL)


def services_stop() -> None:
    e = dict(os.environ, IR_SERVICES_DIR=str(STATE / "services"), IR_REGISTRY_PORT=str(REGISTRY_PORT))
    subprocess.run(["bash", str(ROOT / "scripts/services.sh"), "stop"], env=e, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
    shutil.rmtree(STATE / "services" / "registry-data", ignore_errors=True)


# ------------------------------------------------------------------------------------------- projects

DOCKERFILE = "FROM scratch\n" + "".join(f"COPY layer{i}.bin /layer{i}.bin\n" for i in range(LAYERS))


def project(name: str, image: str, *, one_tag: bool = False, verify: bool = True) -> Path:
    """A fresh git repository with a Dockerfile of LAYERS COPY layers of fresh random content, an
    invoke.yaml like examples/hello's (forge none: notes to a file), and two release tags (v1.2.2, v1.2.3)
    with a few commits between them."""
    d = STATE / "projects" / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    (d / "Dockerfile").write_text(DOCKERFILE)
    (d / ".dockerignore").write_text(".git\ndist\n")
    (d / "tasks.py").write_text("from image_release.tasks import ns  # noqa: F401\n")
    rules = ""
    if one_tag:
        rules = "  tags:\n    - type=semver,pattern={{version}}\n  flavor:\n    - latest=false\n"
    if not verify:  # trust each manifest PUT's digest instead of reading every tag back
        rules += "  registry:\n    verify: false\n"
    (d / "invoke.yaml").write_text(
        "release:\n"
        f"  images:\n    - {image}\n"
        f"  project:\n    title: {name}\n    description: a benchmark image\n"
        "  build:\n    network: host\n"
        "  forge:\n    type: none\n"
        "  known_versions:\n    remote: false\n"
        + rules
    )
    git(d, "init", "-q", "-b", "main")
    (d / "README").write_text("bench\n")
    git(d, "add", "-A")
    git(d, "commit", "-q", "-m", "feat: first")
    git(d, "tag", "v1.2.2")
    for i in range(LAYERS):
        (d / f"layer{i}.bin").write_bytes(random.randbytes(LAYER_BYTES))
    git(d, "add", "-A")
    git(d, "commit", "-q", "-m", "fix: fresh content")
    git(d, "commit", "-q", "--allow-empty", "-m", "docs: a note")
    git(d, "tag", "-a", TAG, "-m", TAG)
    return d


def uid() -> str:
    return uuid.uuid4().hex[:10]


def cli_release(d: Path, image: str, tags: tuple[str, ...] | None = None) -> Run:
    if tags is None:
        return run(["bash", str(BENCH / "docker_cli_release.sh"), image, TAG, str(d / "dist/notes.md"), DOCKER], d,
                   sample=True)
    # The traffic variant: tag and push only the given tags (the build is not counted).
    t0 = time.perf_counter()
    for t in tags:
        quiet([DOCKER, "tag", "bench-local:" + d.name, f"{image}:{t}"])
    for t in tags:
        quiet([DOCKER, "push", f"{image}:{t}"])
    return Run(time.perf_counter() - t0, 0, 0, 0, 0, "")


def invoke(d: Path, *args: str, sample: bool = False) -> Run:
    return run([INVOKE, *args], d, sample=sample)


def cleanup_images(prefix: str) -> None:
    out = quiet([DOCKER, "images", "--format", "{{.Repository}}:{{.Tag}}"])
    refs = [r for r in out.split() if r.startswith(prefix)]
    for i in range(0, len(refs), 50):
        subprocess.run([DOCKER, "rmi", "-f", *refs[i:i + 50]], env=env(), capture_output=True, check=False)


# ------------------------------------------------------------------------------------------- sections


def interleaved(fns: dict[str, callable], runs: int, warm: int = 1) -> dict[str, list[float]]:
    """Run each function ``warm`` times unmeasured, then ``runs`` rounds in alternating order."""
    for _ in range(warm):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    keys = list(fns)
    for i in range(runs):
        for k in (keys if i % 2 == 0 else keys[::-1]):
            times[k].append(fns[k]())
    return times


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
    res.add("1", "invoke --list (median wall)", ours, base, "s", "<= 1.25x empty", ours / base <= 1.25,
            note=f"{len(times['ours'])} interleaved runs; baseline: invoke --list with an empty tasks.py; "
                 f"CPU time (user+sys) ours {c_ours * 1000:.0f} ms vs {c_base * 1000:.0f} ms = {c_ours / c_base:.2f}x")
    res.add("1", "invoke version --tag v1.2.3 (median wall)", version, base, "s", "-", None,
            note=f"baseline: invoke --list with an empty tasks.py; CPU time {c_version * 1000:.0f} ms "
                 f"({c_version / c_base:.2f}x)")
    res.details["invoke_used"] = INVOKE
    res.details["startup_runs_s"] = times
    res.details["startup_cpu_s"] = cpu

    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import image_release.tasks"],
                         capture_output=True, text=True, env=env(), cwd=ROOT, check=True).stderr
    mods: dict[str, tuple[int, int]] = {}
    for line in out.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m:
            mods[m.group(4)] = (int(m.group(1)), int(m.group(2)))
    tops: dict[str, int] = {}
    for name, (self_us, cum_us) in mods.items():
        top = name.split(".")[0]
        tops[top] = tops.get(top, 0) + self_us
    heavy_found = sorted({n.split(".")[0] for n in mods} & set(HEAVY))
    biggest = sorted(tops.items(), key=lambda kv: -kv[1])[:10]
    res.add("1", "heavy SDKs imported by `import image_release.tasks`", len(heavy_found), None, "",
            "0 of docker, github, gitlab", not heavy_found,
            note=("imported: " + ", ".join(heavy_found)) if heavy_found else "none of docker, github, gitlab")
    res.details["importtime_top_packages_ms"] = {k: round(v / 1000, 1) for k, v in biggest}
    res.details["importtime_heavy_found"] = heavy_found
    res.details["importtime_total_ms"] = round(mods.get("image_release.tasks", (0, 0))[1] / 1000, 1)


def section_traffic(res: Results) -> None:
    say("bench 2: registry traffic (counting proxy)")
    summaries: dict[str, dict] = {}
    with CountingProxy(REGISTRY) as proxy:
        host = proxy.host
        PROXY_HOSTS.append(host)
        # ours-*: the default (registry.verify: true); nv-*: registry.verify: false.
        for side, one, verify in (("ours-4", False, True), ("ours-1", True, True),
                                  ("nv-4", False, False), ("nv-1", True, False)):
            d = project(f"traffic-{side}-{uid()}", f"{host}/bench/{side}-{uid()}", one_tag=one, verify=verify)
            proxy.take()
            invoke(d, "release", "--tag", TAG)
            summaries[side] = summarize(proxy.take())
        for side, tags in (("cli-4", ("1.2.3", "1", "1.2", "latest")), ("cli-1", ("1.2.3",))):
            d = project(f"traffic-{side}-{uid()}", "unused")
            quiet([DOCKER, "build", "--network", "host", "-q", "-t", "bench-local:" + d.name, "."], d)
            image = f"{host}/bench/{side}-{uid()}"
            proxy.take()
            cli_release(d, image, tags)
            summaries[side] = summarize(proxy.take())
    # The counts are only worth something if the proxy saw each release whole: every tag's manifest PUT
    # and every blob (the layers and the config) completed once. Otherwise no figure is reported.
    four, one = {"1.2.3", "1.2", "1", "latest"}, {"1.2.3"}
    for name, tags in (("ours-4", four), ("ours-1", one), ("nv-4", four), ("nv-1", one),
                       ("cli-4", four), ("cli-1", one)):
        summ = summaries[name]
        if sorted(summ["manifest_puts"]) != sorted(tags) or summ["blob_uploads"] != LAYERS + 1:
            raise RuntimeError(f"traffic {name}: the proxy saw manifest PUTs {summ['manifest_puts']} and "
                               f"{summ['blob_uploads']} blob uploads, expected one PUT of each of {sorted(tags)} "
                               f"and {LAYERS + 1} blob uploads; not reporting counts of a release it did not see whole")
    o4, o1, n4, n1, c4, c1 = (summaries[k] for k in ("ours-4", "ours-1", "nv-4", "nv-1", "cli-4", "cli-1"))
    res.details["traffic"] = summaries
    res.add("2", "registry requests, 4-tag release", o4["requests"], c4["requests"], "", "-", None,
            note="baseline: docker tag x4 + docker push x4 (the build not counted)")
    res.add("2", "registry requests, 4-tag release, registry.verify: false", n4["requests"], c4["requests"], "",
            "-", None, note="the same release with `registry: {verify: false}` in invoke.yaml")
    per_c = (c4["requests"] - c1["requests"]) / 3
    for label, a4, a1 in (("verify on, the default", o4, o1), ("registry.verify: false", n4, n1)):
        per = (a4["requests"] - a1["requests"]) / 3
        res.add("2", f"requests per tag after the first ({label})", per, per_c, "", "1 (the manifest PUT)",
                per <= 1, note="(4-tag release - 1-tag release) / 3, each side; per extra tag: " + _per_tag(a4, a1)
                + ("; the GET tags share is the race repair's tag list: one per image, read when a floating tag "
                   "is published, so a 1-tag release has none and 3 extra tags share one"
                   if "GET tags" in _per_tag(a4, a1) else ""))
    res.details["traffic_per_extra_tag"] = {k: _per_tag(summaries[k + "-4"], summaries[k + "-1"])
                                            for k in ("ours", "nv", "cli")}
    res.add("2", "bytes sent to the registry, 4-tag release", o4["bytes_sent"], c4["bytes_sent"], "B", "-", None)
    blob_after_o = _blob_requests(o4) - _blob_requests(o1)
    blob_after_c = _blob_requests(c4) - _blob_requests(c1)
    twice = max(len(o4["blobs_uploaded_twice"]), len(n4["blobs_uploaded_twice"]))
    res.add("2", "blob requests for the tags after the first", blob_after_o, blob_after_c, "", "0",
            blob_after_o <= 0 and _blob_requests(n4) - _blob_requests(n1) <= 0 and not twice, show_ratio=False,
            note=f"4-tag minus 1-tag release (verify off: {_blob_requests(n4) - _blob_requests(n1)}); blobs "
                 f"uploaded twice in the 4-tag release: ours {twice}, cli {len(c4['blobs_uploaded_twice'])}; "
                 f"blob checks: ours {o4['blob_checks']}, cli {c4['blob_checks']}")


def _per_tag(four: dict, one: dict) -> str:
    """What each tag after the first costs, by request kind: (four-tag - one-tag) / 3."""
    keys = sorted(set(four["by_method_kind"]) | set(one["by_method_kind"]))
    parts = []
    for k in keys:
        d = (four["by_method_kind"].get(k, 0) - one["by_method_kind"].get(k, 0)) / 3
        if d:
            parts.append(f"{k} {d:g}" if float(d).is_integer() else f"{k} {d:.2f}")
    return ", ".join(parts) or "nothing"


def _blob_requests(summary: dict) -> int:
    return sum(n for k, n in summary["kinds"].items() if k.startswith("blob"))


def section_e2e(res: Results, runs: int, latency_ms: float) -> None:
    say(f"bench 3: end to end, {runs} runs per side (+1 warm-up)")

    def one_ours(registry: str, verify: bool = True) -> float:
        d = project(f"e2e-ours-{uid()}", f"{registry}/bench/e2e-ours-{uid()}", verify=verify)
        r = invoke(d, "release", "--tag", TAG)
        assert (d / "dist/release-notes-1.2.3.md").is_file(), r.output[-2000:]
        return r.seconds

    def one_cli(registry: str) -> float:
        d = project(f"e2e-cli-{uid()}", "unused")
        r = cli_release(d, f"{registry}/bench/e2e-cli-{uid()}")
        assert (d / "dist/notes.md").is_file()
        return r.seconds

    def one_breakdown(whatif: str) -> float:
        d = project(f"e2e-whatif-{uid()}", f"{REGISTRY}/bench/e2e-whatif-{uid()}")
        r = run([sys.executable, str(BENCH / "breakdown.py"), "release", "--tag", TAG], d,
                extra_env={"BENCH_WHATIF": whatif})
        return r.seconds

    times = interleaved({"ours": lambda: one_ours(REGISTRY), "cli": lambda: one_cli(REGISTRY),
                         "control": lambda: one_breakdown(""), "whatif": lambda: one_breakdown("cli-cache")}, runs)
    ours, base = statistics.median(times["ours"]), statistics.median(times["cli"])
    res.add("3", "release wall time, build+push+4 tags+notes (median)", ours, base, "s", "<= 0.8x script",
            ours / base <= 0.8, note=f"{runs} interleaved runs, fresh repository and layer content each; "
                                    f"best: ours {min(times['ours']) * 1000:.0f} ms, script "
                                    f"{min(times['cli']) * 1000:.0f} ms; baseline: bench/docker_cli_release.sh")
    w, ctl = statistics.median(times["whatif"]), statistics.median(times["control"])
    res.add("3", "  what-if: the docker CLI choice cached across runs", ours - (ctl - w), base, "s",
            "<= 0.8x script", None,
            note=f"not the tool as shipped: ours minus what the fix saved in bench/breakdown.py (BENCH_WHATIF="
                 f"cli-cache: no docker --version / buildx version processes): unpatched {ctl * 1000:.0f} ms, "
                 f"patched {w * 1000:.0f} ms, saving {(ctl - w) * 1000:.0f} ms")
    res.details["e2e_runs_s"] = times
    res.details["e2e_breakdown"] = breakdown("release", "--tag", TAG)

    if latency_ms:
        say(f"bench 3: end to end through a proxy adding {latency_ms:g} ms per registry request")
        with CountingProxy(REGISTRY, delay=latency_ms / 1000) as proxy:
            PROXY_HOSTS.append(proxy.host)
            lat = interleaved({"ours": lambda: one_ours(proxy.host), "cli": lambda: one_cli(proxy.host),
                               "noverify": lambda: one_ours(proxy.host, verify=False)}, max(runs - 2, 3))
        o, c, nv = (statistics.median(lat[k]) for k in ("ours", "cli", "noverify"))
        res.add("3", f"release wall time, registry {latency_ms:g} ms away (median)", o, c, "s", "<= 0.8x script",
                o / c <= 0.8, note=f"{len(lat['ours'])} interleaved runs; every registry request delayed "
                                   f"{latency_ms:g} ms by bench/proxy.py (a registry across a network)")
        res.add("3", "  the same with registry.verify: false", nv, c, "s", "-", None,
                note="a shipped setting, not the default: no read-back HEAD of the 3 extra tags")
        res.details["e2e_latency_runs_s"] = lat


def section_memory(res: Results, runs: int) -> None:
    say("bench 5: peak memory of a release (sampled, separate from the timed runs)")
    ours_tree, cli_tree, ours_rss, cli_rss = [], [], [], []
    for _ in range(runs):
        d = project(f"mem-ours-{uid()}", f"{REGISTRY}/bench/mem-ours-{uid()}")
        r = run([INVOKE, "release", "--tag", TAG], d, sample=True)
        ours_tree.append(r.tree_peak_mb)
        ours_rss.append(r.maxrss_mb)
        d = project(f"mem-cli-{uid()}", "unused")
        r = run(["bash", str(BENCH / "docker_cli_release.sh"), f"{REGISTRY}/bench/mem-cli-{uid()}", TAG,
                 str(d / "dist/notes.md"), DOCKER], d, sample=True)
        cli_tree.append(r.tree_peak_mb)
        cli_rss.append(r.maxrss_mb)
    peak, base_peak = max(ours_tree), max(cli_tree)
    res.add("5", "peak RSS of the release process tree", peak, base_peak, "MB", "< 150 MB", peak < 150,
            note=f"max of {runs} runs, /proc sampled every 20 ms (sum over the tree at one moment); largest "
                 f"single process (wait4 ru_maxrss): ours {max(ours_rss):.1f} MB, script {max(cli_rss):.1f} MB; "
                 "dockerd and its BuildKit are not part of either tree")
    res.details["memory_tree_peak_mb"] = {"ours": ours_tree, "cli": cli_tree}
    res.details["memory_maxrss_mb"] = {"ours": ours_rss, "cli": cli_rss}


def breakdown(*args: str, repeat: int = 3) -> dict:
    """More runs (not among the timed ones), timed step by step in-process (bench/breakdown.py); the
    median of each phase over ``repeat`` runs."""
    results = []
    for _ in range(repeat):
        d = project(f"breakdown-{uid()}", f"{REGISTRY}/bench/breakdown-{uid()}")
        if args[0] == "build":
            invoke(d, "build")  # warm: the measured build is the second one
        p = subprocess.run([sys.executable, str(BENCH / "breakdown.py"), *args], cwd=d, env=env(),
                           capture_output=True, text=True, check=False)
        lines = p.stdout.strip().splitlines()
        if p.returncode != 0 or not lines:
            raise RuntimeError(f"bench/breakdown.py {' '.join(args)} failed:\n{p.stderr[-3000:]}")
        results.append(json.loads(lines[-1]))
    phases = {k: statistics.median(r["phases"].get(k, 0.0) for r in results) for k in results[0]["phases"]}
    return {"total": statistics.median(r["total"] for r in results), "phases": phases,
            "calls": results[-1]["calls"], "git_processes": results[-1]["git_processes"],
            "subprocesses": results[-1]["subprocesses"], "runs": repeat}


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
        res.add("4", f"changelog: {x['label']}", x["wall_s"], base["wall_s"], "s", target,
                x["wall_s"] < cb.TARGET_S,
                note=f"{x['commits']} commits, {x['git_processes']} git processes, CPU {x['cpu_s'] * 1000:.0f} ms; "
                     f"baseline: {base['label']}")
    w = f["worst"]
    res.add("4", f"changelog: {w['label']}", w["wall_s"], None, "s", "reported", None,
            note=f"{w['commits']} commits into the notes, cut to the forge limit; {w['git_processes']} git process")
    c = f["combined"]
    res.add("4", "git processes for a release's changelog", c["git_processes"], base["git_processes"], "",
            "1 where possible", c["git_processes"] <= 1,
            note="ours (release_history): the tag list + one git log --boundary; baseline: git describe + git log")


def section_cache(res: Results, runs: int) -> None:
    say(f"bench 6: warm rebuild, {max(runs * 2, 7)} runs per side")
    d = project(f"cache-{uid()}", f"{REGISTRY}/bench/cache-{uid()}")
    ref = f"bench-local:cache-{d.name}"
    (STATE / "empty-tasks").mkdir(parents=True, exist_ok=True)
    (STATE / "empty-tasks" / "tasks.py").write_text("")
    times = interleaved({
        "ours": lambda: invoke(d, "build").seconds,
        "docker": lambda: run(["env", "DOCKER_BUILDKIT=1", DOCKER, "build", "--network", "host", "-t", ref, "."],
                              d).seconds,
        "control": lambda: run([sys.executable, str(BENCH / "breakdown.py"), "build"], d,
                               extra_env={"BENCH_WHATIF": ""}).seconds,
        "whatif": lambda: run([sys.executable, str(BENCH / "breakdown.py"), "build"], d,
                              extra_env={"BENCH_WHATIF": "build-key"}).seconds,
        "floor": lambda: run([INVOKE, "--list"], STATE / "empty-tasks", check=False).seconds,
    }, max(runs * 2, 7), warm=2)
    ours, base = statistics.median(times["ours"]), statistics.median(times["docker"])
    whatif, ctl, floor = (statistics.median(times[k]) for k in ("whatif", "control", "floor"))
    res.add("6", "warm rebuild, nothing changed (median)", ours, base, "s", "<= 1.0x docker build",
            ours / base <= 1.0, note=f"invoke build vs DOCKER_BUILDKIT=1 docker build of the same Dockerfile; best: "
                                    f"ours {min(times['ours']) * 1000:.0f} ms, docker build {min(times['docker']) * 1000:.0f} ms")
    res.add("6", "  what-if: skip the build when its inputs are unchanged", ours - (ctl - whatif), base, "s",
            "<= 1.0x docker build", None,
            note=f"not the tool as shipped: ours minus what the fix saved in bench/breakdown.py (BENCH_WHATIF="
                 f"build-key: hash the context, inspect the last image, no docker build): unpatched "
                 f"{ctl * 1000:.0f} ms, patched {whatif * 1000:.0f} ms, saving {(ctl - whatif) * 1000:.0f} ms")
    res.add("6", "  floor: `invoke --list` with an empty tasks.py", floor, base, "s", "<= 1.0x docker build", None,
            note="Python and Invoke starting and finding no task: no Invoke task that does anything can be faster")
    res.details["cache_runs_s"] = times
    res.details["cache_breakdown"] = breakdown("build")
    # Where ours spends it: the choice of docker CLI each new process makes (engine._buildkit).
    probe = subprocess.run(
        [sys.executable, "-c",
         "import time,sys; t=time.perf_counter(); from image_release.adapters.engine import Engine; "
         "e=Engine(docker_host='" + SOCK + "', out=None); e._buildkit(); print(time.perf_counter()-t)"],
        capture_output=True, text=True, env=env(), check=True)
    res.details["buildkit_choice_s"] = float(probe.stdout.strip())


def machine() -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), "")
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    mem = next((ln.split()[1] for ln in meminfo if ln.startswith("MemTotal")), "0")
    docker_v = quiet([DOCKER, "version", "--format", "{{.Server.Version}}"]).strip()
    import invoke as _inv

    return {
        "cpu": cpu, "cpus": os.cpu_count(), "memory_gb": round(int(mem) / 1024 / 1024, 1),
        "kernel": platform.release(), "python": platform.python_version(), "invoke": _inv.__version__,
        "docker_engine": docker_v, "load_before": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="image-release benchmarks (issue 8)")
    ap.add_argument("--runs", type=int, default=7, help="repetitions of each timed figure (default 7)")
    ap.add_argument("--only", default="1,2,3,4,5,6", help="sections to run, e.g. 1,4")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--json", metavar="FILE", help="also write all figures and details to FILE")
    ap.add_argument("--latency-ms", type=float, default=20,
                    help="also time the release through a proxy adding this much per registry request (0: skip)")
    ap.add_argument("--keep", action="store_true", help="keep the bench registry running afterwards")
    ap.add_argument("--no-bytecode-cache", action="store_true",
                    help="run the tool as the shell has it (PYTHONDONTWRITEBYTECODE kept): every run compiles")
    ap.add_argument("--table-from", metavar="FILE", help="only print the table of a saved --json FILE")
    args = ap.parse_args(argv)
    if args.table_from:
        saved = json.loads(Path(args.table_from).read_text())
        rows = [Row(**r) for r in saved["rows"]]
        for r in rows:
            if r.figure.startswith("blob requests"):
                r.ratio = None
        print(table(rows, markdown=args.markdown))
        return 0
    global NO_BYTECODE
    NO_BYTECODE = args.no_bytecode_cache
    only = {s.strip() for s in args.only.split(",") if s.strip()}

    res = Results()
    needs_services = bool(only & {"2", "3", "5", "6"})
    if needs_services:
        services_start()
    try:
        res.details["machine"] = machine() if needs_services else {}
        if "1" in only:
            section_startup(res, args.runs)
        if "2" in only:
            section_traffic(res)
        if "3" in only:
            section_e2e(res, args.runs, args.latency_ms)
        if "5" in only:
            section_memory(res, 2)
        if "4" in only:
            section_changelog(res, args.runs)
        if "6" in only:
            section_cache(res, args.runs)
    finally:
        if needs_services:
            cleanup_images(f"{REGISTRY}/bench/")
            cleanup_images("bench-local")
            for host in PROXY_HOSTS:  # the refs pushed through the counting proxy
                cleanup_images(f"{host}/bench/")
            shutil.rmtree(STATE / "projects", ignore_errors=True)
            if not args.keep:
                services_stop()
    res.rows.sort(key=lambda r: r.section)
    print(table(res.rows, markdown=args.markdown))
    if not args.markdown:
        print()
        for r in res.rows:
            if r.note:
                print(f"[{r.section}] {r.figure}: {r.note}")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"rows": [r.__dict__ for r in res.rows], "details": res.details}, indent=2, default=str))
    missed = [r for r in res.rows if r.met is False]
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
