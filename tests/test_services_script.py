"""scripts/services.sh and scripts/test stop only what they started (issue 18).

Each test runs a registry of its own (a second `docker-registry serve` on a free loopback port, its own state
directory, no dockerd: IR_SKIP_DOCKERD=1), so the shared dockerd and the registry on 127.0.0.1:5000 that other
test runs use are never touched.
"""

from __future__ import annotations

import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures.registry_extra import free_port
from tests.fixtures.services import ROOT

SERVICES = ROOT / "scripts" / "services.sh"
TEST_SCRIPT = ROOT / "scripts" / "test"

pytestmark = pytest.mark.services


class OwnRegistry:
    """services.sh pointed at a state directory and a port of this test only."""

    def __init__(self, state: Path):
        self.port = free_port()
        self.env = dict(os.environ, IR_SERVICES_DIR=str(state), IR_REGISTRY_PORT=str(self.port), IR_SKIP_DOCKERD="1")

    def services(self, *args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run(["bash", str(SERVICES), *args], env=self.env, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, f"services.sh {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
        return proc

    def up(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v2/", timeout=10) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False


@pytest.fixture
def own(tmp_path):
    reg = OwnRegistry(tmp_path / "services")
    yield reg
    reg.services("stop")  # whatever a test left running in its own state directory (by its recorded pid)


def test_stop_with_a_record_leaves_running_what_was_running_before(own, tmp_path):
    own.services("start")  # what scripts/local-release does: the services stay up for the user
    assert own.up()
    record = tmp_path / "started"
    second = own.services("start", "--record", str(record))
    assert "already answering" in second.stderr
    assert record.read_text() == ""  # this call started nothing
    own.services("stop", "--record", str(record))
    assert own.up(), "a stop with the record of a start that found it running must leave the registry up"


def test_stop_with_a_record_stops_what_that_start_started(own, tmp_path):
    record = tmp_path / "started"
    own.services("start", "--record", str(record))
    assert own.up()
    assert record.read_text().split() == ["registry"]
    own.services("stop", "--record", str(record))
    assert not own.up()


def test_plain_stop_still_stops_what_start_started(own):
    """The README's `bash scripts/services.sh stop` after scripts/local-release."""
    own.services("start")
    own.services("stop")
    assert not own.up()


def fake_python(tmp_path: Path, port: int) -> dict[str, str]:
    """A `python3` first on PATH for scripts/test: pip does nothing, pytest reports whether the registry is up
    while the tests would run; anything else goes to the real interpreter."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "python3"
    script.write_text(
        "#!/bin/sh\n"
        'case "$1 $2" in\n'
        '  "-m pip") exit 0 ;;\n'
        f'  "-m pytest") curl -fsS -o /dev/null http://127.0.0.1:{port}/v2/ && echo "pytest ran with the registry up: $*"'
        "; exit 0 ;;\n"
        "esac\n"
        '[ -x /usr/bin/python3 ] && exec /usr/bin/python3 "$@"\n'
        "exit 127\n"
    )
    script.chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}"}


def run_test_script(own: OwnRegistry, tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(own.env, **fake_python(tmp_path, own.port))
    proc = subprocess.run(["bash", str(TEST_SCRIPT), "-k", "nothing"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "pytest ran with the registry up" in proc.stdout, proc.stdout + proc.stderr
    return proc


def test_scripts_test_leaves_running_the_services_it_found_running(own, tmp_path):
    own.services("start")  # as scripts/local-release leaves them
    proc = run_test_script(own, tmp_path)
    assert "already answering" in proc.stderr
    assert own.up(), "scripts/test stopped a registry it did not start:\n" + proc.stderr


def test_scripts_test_stops_the_services_it_started(own, tmp_path):
    assert not own.up()
    proc = run_test_script(own, tmp_path)
    assert "stopping the test services this run started: registry" in proc.stderr
    assert not own.up()


def test_scripts_test_lists_the_slowest_tests(own, tmp_path):
    proc = run_test_script(own, tmp_path)
    assert "pytest ran with the registry up: -m pytest --durations=15 -k nothing" in proc.stdout
