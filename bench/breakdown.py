"""Where one `invoke ...` run of image-release spends its wall time: the steps of the chain and the
adapter calls inside them, timed in-process (no profiler, so the figures are close to a plain run).

    cd PROJECT && python /path/to/bench/breakdown.py release --tag v1.2.3

Prints one JSON object on the last line of stdout: seconds per phase (``phases``; nested phases are
included in their parents), the subprocesses started (``subprocesses``: argv[0:3] and seconds each),
and ``total`` (from this script's start to the end of the run; interpreter start-up before it is about
20 ms). The tool's own output goes to stderr.

What-if runs (``BENCH_WHATIF=probe,tag,registry-read``) patch the tool in this process only, to measure
what a proposed fix would save before anyone writes it (src/ is not touched):

- ``probe``: the BuildKit probe answers at once with what it found last time (/usr/bin/docker, classic
  CLI), as a probe result cached across runs would;
- ``tag``: the local ``docker tag`` step is skipped (the extra tags are published as manifests; nothing
  reads the local tags);
- ``registry-read``: planning reads the versions from git tags only (no registry client, no requests
  import), as a build that publishes nothing could.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import contextlib  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

phases: dict[str, float] = {}
procs: list[tuple[str, float]] = []


def timed(owner, attr: str, label: str) -> None:
    fn = getattr(owner, attr)

    @functools.wraps(fn)
    def wrapper(*a, **kw):
        t = time.perf_counter()
        try:
            return fn(*a, **kw)
        finally:
            phases[label] = phases.get(label, 0.0) + time.perf_counter() - t

    setattr(owner, attr, wrapper)


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


def main(argv: list[str]) -> int:
    subprocess.Popen = _Popen  # type: ignore[misc]
    t = time.perf_counter()
    import invoke.main  # noqa: F401  (invoke and its Program)

    phases["import invoke"] = time.perf_counter() - t
    t = time.perf_counter()
    import image_release.tasks  # noqa: F401

    phases["import image_release.tasks"] = time.perf_counter() - t

    from image_release.adapters import engine, registry
    from image_release.pipeline import session, steps

    for name in ("plan_step", "build_step", "tag_step", "publish_step", "release_step"):
        timed(steps, name, f"step {name.removesuffix('_step')}")
    timed(session.Session, "_known_versions", "  plan: known versions (git + registry tags)")
    timed(session.Session, "registry_for", "  registry client setup (imports requests)")
    timed(engine.Engine, "_buildkit", "  build: BuildKit probe")
    timed(engine.Engine, "_run_cli", "  build: docker build (BuildKit)")
    timed(engine.Engine, "_client", "  docker SDK client (imports docker)")
    timed(engine.Engine, "tag", "  tag: engine tag (SDK)")
    timed(engine.Engine, "push", "  push: engine push (SDK, first tag)")
    for name in ("head_manifest", "get_manifest", "put_manifest", "list_tags"):
        timed(registry.RegistryClient, name, f"  registry {name}")

    whatif = {w.strip() for w in os.environ.get("BENCH_WHATIF", "").split(",") if w.strip()}
    if "probe" in whatif:
        cached = engine._BuildKitClient("/usr/bin/docker", "classic-cli", None)
        engine.Engine._buildkit = lambda self: (cached, ())
    if "tag" in whatif:
        steps.tag_step = lambda s: s.done.add("tag")
    if "registry-read" in whatif:
        from image_release.adapters import git_repo
        from image_release.core.plan import known_versions_from_tags

        session.Session._known_versions = lambda self, ctx, warnings: known_versions_from_tags(
            git_repo.tag_names(self.root))

    from invoke.main import program
    from image_release.tasks._executor import ReleaseExecutor

    # image_release.tasks adopts the importing Program on import; it was imported above, before the
    # Program ran, so do here what it would have done.
    program.executor_class = ReleaseExecutor
    t = time.perf_counter()
    rc = 0
    with contextlib.redirect_stdout(sys.stderr):
        try:
            program.run(["invoke", *argv])
        except SystemExit as e:
            rc = int(e.code or 0)
    phases["program.run"] = time.perf_counter() - t
    total = time.perf_counter() - T0
    print(json.dumps({"rc": rc, "total": total, "phases": phases,
                      "subprocesses": [[n, round(s, 4)] for n, s in procs]}))
    return rc


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
