"""Where one `invoke ...` run of image-release spends its wall time: the steps of the chain and the
adapter calls inside them, timed in-process (no profiler, so the figures are close to a plain run).

    cd PROJECT && python /path/to/bench/breakdown.py release --tag v1.2.3
    cd PROJECT && python /path/to/bench/breakdown.py --table release --tag v1.2.3   # readable, to stderr too

Prints one JSON object on the last line of stdout: seconds per phase (``phases``; indented phases are
part of the unindented one above them), how often each timed call ran (``calls``), the subprocesses
started (``subprocesses``: argv[0:3] and seconds each), and ``total`` (from this script's start to the
end of the run; the interpreter's own start-up before it is about 30 ms, and a pyenv shim in front of
``invoke`` adds about 75 ms more on this machine). The tool's own output goes to stderr.

What-if runs (``BENCH_WHATIF=cli-cache,build-key``) patch the tool in this process only, to size a fix
that is not written yet (src/ is not touched):

- ``cli-cache``: the choice of docker CLI for BuildKit answers at once with what it found last time
  (``/usr/bin/docker``, a classic client with BuildKit built in), as a choice cached across runs
  would: no ``docker --version`` / ``docker buildx version`` processes;
- ``build-key``: the build is skipped when its inputs are unchanged. The run hashes what a key would
  cover (the Dockerfile, the build settings, every file of the context not excluded by .dockerignore)
  and inspects the image the previous build tagged (one Engine API call); when that image is there
  it is reused as a label holding the key would allow. The key is not compared (nothing stores it
  yet), so this is the cost of the check, which is what the fix would add; a missing image builds.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import contextlib
import functools
import json
import os
import subprocess
import sys

phases: dict[str, float] = {}
cpu: dict[str, float] = {}  # CPU seconds per phase: this process (all threads) and its finished children
calls: dict[str, int] = {}
procs: list[tuple[str, float]] = []
WHATIFS = ("cli-cache", "build-key")


missing: list[str] = []  # hooks whose function is not in this version of the code


def timed(owner, attr: str, label: str) -> None:
    """Time every call of ``owner.attr`` under ``label``; a function this version of the code does not
    have (the tool is being changed) is listed in ``missing_hooks`` instead of stopping the run."""
    fn = getattr(owner, attr, None) if owner is not None else None
    if fn is None:
        missing.append(f"{getattr(owner, '__name__', '?')}.{attr} ({label.strip()})")
        return

    @functools.wraps(fn)
    def wrapper(*a, **kw):
        t, c = time.perf_counter(), _cpu()
        try:
            return fn(*a, **kw)
        finally:
            phases[label] = phases.get(label, 0.0) + time.perf_counter() - t
            cpu[label] = cpu.get(label, 0.0) + _cpu() - c
            calls[label] = calls.get(label, 0) + 1

    setattr(owner, attr, wrapper)


def _cpu() -> float:
    """User+system seconds so far of this process (every thread, so a background thread's work shows
    in whichever phase it overlaps) and of its children that have been waited for."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class _Popen(subprocess.Popen):
    def __init__(self, args, *a, **kw):
        self._bench_t = time.perf_counter()
        argv = args if isinstance(args, (list, tuple)) else [args]
        self._bench_name = " ".join(str(x) for x in argv[:3])
        super().__init__(args, *a, **kw)

    def wait(self, timeout=None):
        rc = super().wait(timeout)
        if not getattr(self, "_bench_done", False):
            self._bench_done = True
            procs.append((self._bench_name, time.perf_counter() - self._bench_t))
        return rc


def _input_key(spec) -> str:
    """What an input key of a build would hash: the Dockerfile, the build settings, and every file of
    the context that .dockerignore does not exclude (plain prefix patterns, enough for the bench)."""
    import hashlib
    from pathlib import Path

    h = hashlib.sha256()
    h.update(repr((spec.dockerfile, spec.build_args, spec.target, spec.platforms, spec.network,
                   spec.secrets)).encode())  # not the labels: they carry the build time
    root = Path(spec.context)
    ignore = root / ".dockerignore"
    skip = [p.strip().rstrip("/") for p in ignore.read_text().splitlines()] if ignore.is_file() else []
    skip = [p for p in skip if p and not p.startswith("#")]
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        dirnames[:] = sorted(d for d in dirnames
                             if not any(os.path.normpath(os.path.join(rel, d)) == s for s in skip))
        for name in sorted(filenames):
            relf = os.path.normpath(os.path.join(rel, name))
            if any(relf == s or relf.startswith(s + "/") for s in skip):
                continue
            h.update(relf.encode() + b"\0")
            with open(os.path.join(dirpath, name), "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()


def _patch_whatifs(whatif: set[str], engine) -> None:
    unknown = whatif - set(WHATIFS)
    if unknown:
        raise SystemExit(f"breakdown.py: unknown BENCH_WHATIF {sorted(unknown)}; known: {', '.join(WHATIFS)}")
    if "cli-cache" in whatif:
        cached = engine._BuildKitClient("/usr/bin/docker", "classic-cli", None)
        engine.Engine._buildkit = lambda self: (cached, ())
    if "build-key" in whatif:
        real_build = engine.Engine.build

        def build(self, spec):
            t = time.perf_counter()
            _input_key(spec)
            phases["  build-key: hash the inputs"] = time.perf_counter() - t
            t = time.perf_counter()
            try:
                info = self.inspect(spec.tags[0])
            except Exception:  # noqa: BLE001 - absent: build as usual
                info = None
            phases["  build-key: inspect the last image"] = time.perf_counter() - t
            if info is None:
                return real_build(self, spec)
            return engine.BuildResult(image_id=info["Id"], tags=tuple(spec.tags), builder="buildkit")

        engine.Engine.build = build


def main(argv: list[str]) -> int:
    as_table = bool(argv) and argv[0] == "--table"
    if as_table:
        argv = argv[1:]
    subprocess.Popen = _Popen  # type: ignore[misc]
    t, c = time.perf_counter(), _cpu()
    import invoke.main  # noqa: F401  (invoke and its Program)

    phases["import invoke"] = time.perf_counter() - t
    cpu["import invoke"] = _cpu() - c
    t, c = time.perf_counter(), _cpu()
    import image_release.tasks  # noqa: F401

    phases["import image_release.tasks"] = time.perf_counter() - t
    cpu["import image_release.tasks"] = _cpu() - c

    t, c = time.perf_counter(), _cpu()
    import importlib

    def module(name: str):
        try:
            return importlib.import_module(name)
        except ImportError:
            missing.append(name)
            return None

    engine, git_history, registry, layout_push = (
        module(f"image_release.adapters.{m}") for m in ("engine", "git_history", "registry", "layout_push"))
    steps, planning, releasing, run_mod = (
        module(f"image_release.pipeline.{m}") for m in ("steps", "steps.planning", "steps.releasing", "run"))

    Engine, RegistryClient = getattr(engine, "Engine", None), getattr(registry, "RegistryClient", None)
    for name, step in (getattr(steps, "STEPS", None) or {}).items():
        timed(type(step), "run", f"step {name}")
    timed(planning, "_known_versions", "  plan: known versions (git tags + registry tag list)")
    timed(getattr(run_mod, "Run", None), "_registry_client", "  registry client setup (imports requests)")
    timed(Engine, "_buildkit", "  build: which docker CLI does BuildKit (version processes)")
    timed(Engine, "_run_cli", "  build: docker build (BuildKit)")
    timed(Engine, "_client", "  docker SDK client (imports docker)")
    timed(Engine, "tag", "  engine tag (SDK)")
    timed(Engine, "export_oci", "  publish: export the built image to an OCI layout")
    timed(layout_push, "push_content", "  publish: blobs of the version tag (own client)")
    for name in ("ping", "head_manifest", "get_manifest", "put_manifest", "list_tags"):
        timed(RegistryClient, name, f"  registry {name}")
    timed(releasing, "notes_input", "  release: notes input (git history)")
    timed(git_history, "ensure_history", "  release: git_history.ensure_history")
    timed(git_history, "release_history", "  release: git_history.release_history")
    timed(releasing, "render_notes", "  release: render the notes (Jinja2)")

    _patch_whatifs({w.strip() for w in os.environ.get("BENCH_WHATIF", "").split(",") if w.strip()}, engine)

    from invoke.main import program

    try:
        from image_release.tasks._executor import ReleaseExecutor
    except ImportError:  # a version of the tool without its own executor
        ReleaseExecutor = None
        missing.append("image_release.tasks._executor.ReleaseExecutor")

    # Not part of a plain run: this harness imports the adapters (and so requests) up front to time
    # them, where a plain run imports what it needs later, inside the steps.
    phases["harness: import the adapters to time them"] = time.perf_counter() - t
    cpu["harness: import the adapters to time them"] = _cpu() - c

    # image_release.tasks adopts the importing Program on import; it was imported above, before the
    # Program ran, so do here what it would have done.
    if ReleaseExecutor is not None:
        program.executor_class = ReleaseExecutor
    t, c = time.perf_counter(), _cpu()
    rc = 0
    with contextlib.redirect_stdout(sys.stderr):
        try:
            program.run(["invoke", *argv])
        except SystemExit as e:
            rc = int(e.code or 0)
    phases["program.run"] = time.perf_counter() - t
    cpu["program.run"] = _cpu() - c
    cpu["program.run"] = _cpu() - c
    total = time.perf_counter() - T0
    git_procs = [s for n, s in procs if n.split(" ", 1)[0].endswith("git")]
    out = {"rc": rc, "total": total, "total_cpu": _cpu(), "phases": phases, "cpu": cpu, "calls": calls,
           "git_processes": len(git_procs), "git_seconds": sum(git_procs),
           "subprocesses": [[n, round(s, 4)] for n, s in procs], "missing_hooks": missing}
    if as_table:
        lines = [f"{'ms':>6}  {'cpu ms':>6}  {'calls':>5}  phase"]
        lines += [f"{v * 1000:6.0f}  {cpu[k] * 1000 if k in cpu else 0:6.0f}  {calls.get(k, ''):>5}  {k}"
                  for k, v in phases.items()]
        lines.append(f"{total * 1000:6.0f}  {_cpu() * 1000:6.0f}         total (from this script's start)")
        lines.append(f"{out['git_seconds'] * 1000:6.0f}  {len(git_procs):>5}  git processes (all of them)")
        lines += [f"{s * 1000:6.0f}         subprocess {n}" for n, s in procs if not n.split(" ", 1)[0].endswith("git")]
        lines += [f"{'':>6}         not timed (not in this code): {m}" for m in missing]
        print("\n".join(lines), file=sys.stderr)
    print(json.dumps(out))
    return rc


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
