"""What the test registry (distribution 2.8) answers while a tag is re-put, and how the pull loop of the gap tests
(tests/fixtures/pull_loop.py) takes it.

distribution writes a tag's link file in place (truncate, then write): a read in between answers 500 with
`invalid checksum digest format` in its log. The tag is never missing, so a puller sees a transient 5xx, never a
404. `scripts/registry-tag-race` shows it with two curl loops and no project code; the pull loop retries a 5xx
with backoff, as pullers do, and still counts every 404 as the gap it exists to catch.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.fakes.fault_proxy import FaultProxy
from tests.fixtures.pull_loop import PullLoop
from tests.fixtures.services import ROOT

pytestmark = pytest.mark.services

RACE = ROOT / "scripts" / "registry-tag-race"


def race(host: str, rounds: int) -> dict[int, int]:
    """HTTP status -> how many HEADs got it while the tag was re-put ``rounds`` times."""
    proc = subprocess.run(["bash", str(RACE), host, str(rounds)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "did not answer 201" not in proc.stderr, proc.stderr
    return {int(code): int(n) for code, n in (line.split() for line in proc.stdout.splitlines())}


def test_the_registry_answers_500_and_never_404_while_a_tag_is_re_put(own_registry):
    seen: dict[int, int] = {}
    for _ in range(5):  # the window is short: on an idle machine about one HEAD in ten lands in it
        for code, n in race(own_registry.host, 300).items():
            seen[code] = seen.get(code, 0) + n
        if seen.get(500):
            break
    assert set(seen) <= {200, 500}, f"a reader saw {seen}: a 404 would be a real gap in the registry itself"
    assert seen.get(200)
    assert seen.get(500), f"no HEAD answered 500 in 5 rounds of re-puts ({seen}): has the registry changed?"
    assert "invalid checksum digest format" in (own_registry.workdir / "registry.log").read_text()


@pytest.fixture
def proxy(services):
    with FaultProxy(services.registry) as p:
        yield p


def heads_of(proxy: FaultProxy, tag: str) -> list[int | None]:
    return [s.status for s in proxy.log if s.method == "HEAD" and s.path.endswith(f"/manifests/{tag}")]


def test_the_pull_loop_retries_a_5xx_with_backoff(pushed_image, proxy):
    rule = proxy.add("HEAD", rf"/{pushed_image.repo}/manifests/1\.0\.0$", "status", status=500, times=3)
    loop = PullLoop(f"{proxy.address}/{pushed_image.repo}", ["1.0.0"], max_rounds=3)
    loop.start()
    loop.join(120)
    assert not loop.is_alive()
    assert rule.hits == 3
    assert loop.misses == [], "a 5xx that a retry gets past is not a gap"
    assert heads_of(proxy, "1.0.0")[:4] == [500, 500, 500, 200]


def test_the_pull_loop_counts_every_404_at_once(pushed_image, proxy):
    loop = PullLoop(f"{proxy.address}/{pushed_image.repo}", ["1.0.0", "gone"], max_rounds=3)
    loop.start()
    loop.join(120)
    assert not loop.is_alive()
    assert loop.misses == [(0, "gone", "missing"), (1, "gone", "missing"), (2, "gone", "missing")]
    assert heads_of(proxy, "gone") == [404, 404, 404], "a 404 is not retried: it is the gap"
