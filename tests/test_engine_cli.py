"""Which docker CLI builds with BuildKit: each candidate is probed at most once per process, failures too
(issue 17: a failing probe was not remembered and ran again on every build and check)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from image_release.adapters.engine import Engine
from tests.test_engine import dead_host, stub_cli


def logging_cli(tmp_path: Path, body: str) -> tuple[str, Path]:
    log = tmp_path / "calls.log"
    return stub_cli(tmp_path, f'echo "$*" >> "{log}"\n' + body), log


def test_a_failing_probe_is_remembered_across_checks_engines_and_threads(tmp_path):
    # no readable version, no buildx, and the probe build fails: three processes, once
    cli, log = logging_cli(tmp_path, "echo 'no BuildKit here' >&2; exit 1\n")
    host = dead_host(tmp_path)
    engines = [Engine(docker_host=host, out=None, cli=cli) for _ in range(3)]
    threads = [threading.Thread(target=e._buildkit) for e in engines for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in engines:
        bk, notes = e._buildkit()
        assert bk is None and any("no BuildKit here" in n for n in notes)
    assert log.read_text().splitlines() == ["--version", "buildx version", "build --progress=plain --output "
                                            "type=tar,dest=/dev/null -"]


def test_a_working_probe_is_remembered_too(tmp_path):
    cli, log = logging_cli(tmp_path, 'if [ "$1 $2" = "buildx version" ]; then echo v0.12.0; fi; exit 0\n')
    for _ in range(3):
        bk, _ = Engine(docker_host=dead_host(tmp_path), out=None, cli=cli)._buildkit()
        assert bk is not None and bk.via == "buildx"
    assert log.read_text().splitlines() == ["--version", "buildx version"]


def test_one_process_runs_each_probe_once_with_the_default_candidates():
    """A fresh process (as a run is): however often it checks and builds, each candidate CLI runs its
    `--version` and `buildx version` once."""
    code = """
import collections, subprocess
calls = collections.Counter()
real = subprocess.Popen
class Counting(real):
    def __init__(self, argv, *a, **k):
        calls[" ".join(argv)] += 1
        super().__init__(argv, *a, **k)
subprocess.Popen = Counting
from image_release.adapters.engine import Engine
for _ in range(3):
    Engine(docker_host="unix:///nowhere.sock", out=None)._buildkit()
from image_release.adapters.engine.cli_choice import cli_candidates
n = len(cli_candidates(Engine(out=None)))
print(n, max(calls.values()), sum(calls.values()))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    candidates, most, total = map(int, out.stdout.split())
    assert most == 1  # no process ran twice
    assert total <= 3 * candidates
