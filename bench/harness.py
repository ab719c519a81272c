"""What every section of the benchmark shares: rows and tables, processes, services, projects, and the
two docker-CLI baselines. Used by bench/run.py and its sections; not a test, and no part of the tool.

Settings (environment): DOCKER_HOST (the engine, default unix:///var/run/docker.sock, passed to every
process: ours, the scripts, the docker CLI), IR_BENCH_DOCKER (the docker CLI of the baselines, default
/usr/bin/docker, Debian's 20.10 client with BuildKit built in), IR_BENCH_DIR (state, default
/tmp/image-release-bench), IR_BENCH_REGISTRY_PORT (the bench's own registry, default 5055).
"""

from __future__ import annotations

import os
import random
import shutil
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

DOCKER = os.environ.get("IR_BENCH_DOCKER", "/usr/bin/docker")
DOCKER_HOST = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
STATE = Path(os.environ.get("IR_BENCH_DIR", "/tmp/image-release-bench"))
REGISTRY_PORT = int(os.environ.get("IR_BENCH_REGISTRY_PORT", "5055"))
REGISTRY = f"127.0.0.1:{REGISTRY_PORT}"
TAG = "v1.2.3"
VERSION = TAG[1:]
DEFAULT_TAGS = ("1.2.3", "1.2", "1", "latest")  # what the default rules publish for v1.2.3
LAYERS = 3
LAYER_BYTES = 512 * 1024
PROXY_HOSTS: list[str] = []  # every proxy a section started: its refs are removed from the engine at the end
OPTIONS = {"no_bytecode": False}  # --no-bytecode-cache: keep the caller's PYTHONDONTWRITEBYTECODE
# The `invoke` console script of this interpreter, as `pip install` leaves it in a virtualenv or a CI
# image, whatever PATH holds (a pyenv shim in front of it would add ~70 ms to every command).
_OWN_INVOKE = Path(sys.executable).parent / "invoke"
INVOKE = str(_OWN_INVOKE) if _OWN_INVOKE.is_file() else "invoke"


# --------------------------------------------------------------------------------------------- rows


@dataclass
class Row:
    """One figure. ``table`` "cli": against both docker-CLI baselines (``tag_push``: `docker tag` +
    `docker push` per tag, the process document's way; ``all_tags``: one build with a `-t` per tag,
    then `docker push --all-tags`) and the ``floor``; ratio = ours / all_tags. ``table`` "other":
    against the one ``baseline`` the figure names; ratio = ours / baseline."""

    section: str
    figure: str
    ours: float | None
    unit: str
    target: str
    met: bool | None  # None: no target, reported only
    tag_push: float | None = None
    all_tags: float | None = None
    floor: float | None = None
    baseline: float | None = None
    table: str = "cli"
    ratio: float | None = None
    note: str = ""
    show_ratio: bool = True  # False where a ratio means nothing (counts that should be zero)

    def __post_init__(self):
        ref = self.all_tags if self.table == "cli" else self.baseline
        if not self.show_ratio:
            self.ratio = None
        elif self.ratio is None and self.ours is not None and ref:
            self.ratio = self.ours / ref


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    details: dict = field(default_factory=dict)

    def add(self, *a, **kw) -> Row:
        row = Row(*a, **kw)
        self.rows.append(row)
        return row


def fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    if unit == "s":
        return f"{v * 1000:.0f} ms" if v < 10 else f"{v:.1f} s"
    if unit == "ms":
        return f"{v:.1f} ms"
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


def _grid(head: tuple[str, ...], body: list[tuple[str, ...]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        lines += ["| " + " | ".join(_md_cell(c) for c in b) + " |" for b in body]
        return "\n".join(lines)
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths)), "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(b, widths)) for b in body]
    return "\n".join(out)


def table(rows: list[Row], markdown: bool = False) -> str:
    """Two tables: the figures against the docker CLI (both baselines and the floor), then the others."""
    def met(r: Row) -> str:
        return "-" if r.met is None else ("yes" if r.met else "NO")

    def ratio(r: Row) -> str:
        return "-" if r.ratio is None else f"{r.ratio:.2f}x"

    out = []
    cli = [r for r in rows if r.table == "cli"]
    if cli:
        head = ("#", "figure", "ours", "tag+push", "--all-tags", "floor", "ratio", "target", "met?")
        out.append(_grid(head, [(r.section, r.figure, fmt(r.ours, r.unit), fmt(r.tag_push, r.unit),
                                 fmt(r.all_tags, r.unit), fmt(r.floor, r.unit), ratio(r), r.target, met(r))
                                for r in cli], markdown))
    other = [r for r in rows if r.table != "cli"]
    if other:
        head = ("#", "figure", "ours", "baseline", "ratio", "target", "met?")
        out.append(_grid(head, [(r.section, r.figure, fmt(r.ours, r.unit), fmt(r.baseline, r.unit), ratio(r),
                                 r.target, met(r)) for r in other], markdown))
    return "\n\n".join(out)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------ processes


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["DOCKER_HOST"] = DOCKER_HOST
    if not OPTIONS["no_bytecode"]:
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
        extra_env: dict | None = None, timeout: float = 600) -> Run:
    """Run ``argv`` with output to a file (not a terminal), timed from start to exit."""
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

        def killer() -> None:
            if not stop.wait(timeout):
                p.kill()

        threads = [threading.Thread(target=killer, daemon=True)]
        if sample:
            threads.append(threading.Thread(target=sampler, daemon=True))
        for th in threads:
            th.start()
        _, status, usage = os.wait4(p.pid, 0)
        seconds = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        stop.set()
        for th in threads:
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


def interleaved(fns: dict, runs: int, warm: int = 1) -> dict[str, list[float]]:
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


# ------------------------------------------------------------------------------------------- services


def _engine_up() -> bool:
    return subprocess.run([DOCKER, "info"], env=env(), capture_output=True, check=False).returncode == 0


def services_start() -> None:
    """The engine at DOCKER_HOST (started with scripts/services.sh when it is this machine's socket and
    down), and a registry of the bench's own on REGISTRY, so no test run's traffic mixes with the counts."""
    if not _engine_up():
        if not DOCKER_HOST.startswith("unix://"):
            raise RuntimeError(f"no Docker engine answers at DOCKER_HOST={DOCKER_HOST}; start it, or unset "
                               "DOCKER_HOST to use this machine's socket")
        say("bench: starting dockerd (scripts/services.sh start)")
        e = dict(os.environ, IR_DOCKER_SOCK=DOCKER_HOST.removeprefix("unix://"))
        subprocess.run(["bash", str(ROOT / "scripts/services.sh"), "start"], check=True, env=e,
                       stdout=subprocess.DEVNULL)
    say(f"bench: a registry of its own on {REGISTRY}")
    e = dict(os.environ, IR_SERVICES_DIR=str(STATE / "services"), IR_REGISTRY_PORT=str(REGISTRY_PORT),
             IR_SKIP_DOCKERD="1")
    subprocess.run(["bash", str(ROOT / "scripts/services.sh"), "start"], check=True, env=e, stdout=subprocess.DEVNULL)


def services_stop() -> None:
    """Stop the bench's own registry (its state directory holds only that one: dockerd, shared with
    everything else, is never stopped here) and delete its data."""
    e = dict(os.environ, IR_SERVICES_DIR=str(STATE / "services"), IR_REGISTRY_PORT=str(REGISTRY_PORT))
    (STATE / "services" / "dockerd.started").unlink(missing_ok=True)
    subprocess.run(["bash", str(ROOT / "scripts/services.sh"), "stop"], env=e, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
    # rm -rf, not shutil.rmtree: the 5,000-tag repositories leave ~50,000 files (a tag is a directory
    # with a link file, a manifest a revision and an index entry), and on a busy disk the C loop is faster.
    subprocess.run(["rm", "-rf", "--", str(STATE / "services" / "registry-data")], check=False)


def cleanup_images(prefix: str) -> None:
    out = quiet([DOCKER, "images", "--format", "{{.Repository}}:{{.Tag}}"])
    refs = [r for r in out.split() if r.startswith(prefix)]
    for i in range(0, len(refs), 50):
        subprocess.run([DOCKER, "rmi", "-f", *refs[i:i + 50]], env=env(), capture_output=True, check=False)


# ------------------------------------------------------------------------------------------- projects

DOCKERFILE = "FROM scratch\n" + "".join(f"COPY layer{i}.bin /layer{i}.bin\n" for i in range(LAYERS))


def uid() -> str:
    return uuid.uuid4().hex[:10]


def tag_names(n: int) -> list[str]:
    """The tags a release of v1.2.3 publishes with ``n`` tags: 1.2.3 alone, the four defaults, or the
    defaults and ``extra<i>`` (raw rules) up to n."""
    if n == 1:
        return [VERSION]
    return [*DEFAULT_TAGS, *(f"extra{i}" for i in range(n - len(DEFAULT_TAGS)))]


def _rules(n_tags: int) -> str:
    if n_tags == 1:
        return "  tags:\n    - type=semver,pattern={{version}}\n  flavor:\n    - latest=false\n"
    if n_tags == len(DEFAULT_TAGS):
        return ""  # the defaults
    if n_tags < len(DEFAULT_TAGS):
        raise ValueError(f"a tag sweep step of {n_tags} tags: 1, or 4 and more")
    from image_release.core.default_rules import DEFAULT_TAG_RULES

    lines = [*DEFAULT_TAG_RULES, *(f"type=raw,value=extra{i}" for i in range(n_tags - len(DEFAULT_TAGS)))]
    return "  tags:\n" + "".join(f"    - \"{r}\"\n" for r in lines)


SIGN_ENV = "BENCH_COSIGN_KEY"  # signing settings for project(sign=...): the key in this variable, its password
SIGN_PASSWORD_ENV = "BENCH_COSIGN_PASSWORD"  # in this one


def project(name: str, images: list[str] | str, *, n_tags: int = 4, verify: bool = True, tag: str = TAG,
            sign: str | None = None) -> Path:
    """A fresh git repository with a Dockerfile of LAYERS COPY layers of fresh random content, an
    invoke.yaml like examples/hello's (forge none: notes to a file) for ``images``, and two release
    tags (v1.2.2, ``tag``) with a few commits between them."""
    images = [images] if isinstance(images, str) else images
    d = STATE / "projects" / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    (d / "Dockerfile").write_text(DOCKERFILE)
    (d / ".dockerignore").write_text(".git\ndist\n")
    (d / "tasks.py").write_text("from image_release.tasks import ns  # noqa: F401\n")
    extra = _rules(n_tags)
    if not verify:  # trust each manifest PUT's answer instead of reading every tag back
        extra += "  registry:\n    verify: false\n"
    if sign:  # "signature", or "attested": the signature, an SBOM and a provenance attestation
        extra += f"  sign:\n    key_env: {SIGN_ENV}\n    password_env: {SIGN_PASSWORD_ENV}\n"
        if sign == "attested":
            extra += "  sbom: true\n  provenance: true\n"
    (d / "invoke.yaml").write_text(
        "release:\n"
        "  images:\n" + "".join(f"    - {i}\n" for i in images)
        + f"  project:\n    title: {name}\n    description: a benchmark image\n"
        + (f"    source: https://git.example/acme/{name}\n" if sign == "attested" else "")  # provenance names it
        + "  build:\n    network: host\n"
        "  forge:\n    type: none\n"
        "  known_versions:\n    remote: false\n"
        + extra
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
    git(d, "tag", "-a", tag, "-m", tag)
    return d


def invoke(d: Path, *args: str, sample: bool = False, check: bool = True, timeout: float = 600,
           extra_env: dict | None = None) -> Run:
    return run([INVOKE, *args], d, sample=sample, check=check, timeout=timeout, extra_env=extra_env)


# ------------------------------------------------------------------------------ the docker-CLI baselines

STYLES = ("tag-push", "all-tags")


def script_release(d: Path, image: str, style: str, *, sample: bool = False) -> Run:
    """A whole release by bench/docker_cli_release.sh (build, the four tags, notes to a file)."""
    flag = ["--all-tags"] if style == "all-tags" else []
    r = run(["bash", str(BENCH / "docker_cli_release.sh"), *flag, image, TAG, str(d / "dist/notes.md"), DOCKER], d,
            sample=sample)
    if not (d / "dist/notes.md").is_file():
        raise RuntimeError(f"docker_cli_release.sh {style} wrote no notes:\n{r.output[-2000:]}")
    return r


def cli_build(d: Path, images: list[str], tags: list[str], style: str) -> None:
    """The build before a counted publish (no registry request: FROM scratch): tag+push builds one local
    tag and tags it later; all-tags builds with a `-t` for every tag of every image."""
    if style == "tag-push":
        quiet([DOCKER, "build", "--network", "host", "-q", "-t", "bench-local:" + d.name, "."], d)
    else:
        t_args = [a for i in images for t in tags for a in ("-t", f"{i}:{t}")]
        quiet([DOCKER, "build", "--network", "host", "-q", *t_args, "."], d)


def cli_publish(d: Path, images: list[str], tags: list[str], style: str) -> None:
    """Publish what cli_build built: `docker tag` + `docker push` per tag, or `docker push --all-tags`
    per image."""
    for image in images:
        if style == "tag-push":
            for t in tags:
                quiet([DOCKER, "tag", "bench-local:" + d.name, f"{image}:{t}"])
            for t in tags:
                quiet([DOCKER, "push", f"{image}:{t}"])
        else:
            quiet([DOCKER, "push", "--all-tags", image])
