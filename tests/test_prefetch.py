"""The plan's reads overlap (issue 17): registries' tag lists read at once, one ping per registry host started
when the plan is shown, the forge's preflight started then too; every check still reports in its order, and a
run makes only the reads of the checks it makes. Through the real `invoke`."""

from __future__ import annotations

import json
import time

import pytest

from tests.fakes.fault_proxy import FaultProxy
from tests.fakes.scripted_registry import ScriptedRegistry
from tests.fixtures.forge_fakes import github_repo
from tests.fixtures.project import clean_env, write_project

TOOL = "python-requests"
TOKEN = "ghp_prefetch_secret_token_0123456789"


class SlowTags:
    """A tags/list answer that takes ``seconds`` and records when it was being answered."""

    def __init__(self, tags, seconds: float = 0.4):
        self.tags, self.seconds, self.spans = tags, seconds, []

    def __call__(self, req):
        start = time.monotonic()
        time.sleep(self.seconds)
        self.spans.append((start, time.monotonic()))
        return 200, {}, {"tags": self.tags}


def test_the_tag_lists_of_several_registries_are_read_at_once(tmp_path):
    with ScriptedRegistry() as one, ScriptedRegistry() as two:
        slow_one, slow_two = SlowTags(["1.3.0", "1.3", "1", "latest"]), SlowTags(["1.2.9"])
        one.on("GET", r"/v2/a/app/tags/list", slow_one)
        two.on("GET", r"/v2/b/app/tags/list", slow_two)
        proj = write_project(tmp_path / "p", f"{one.address}/a/app")
        (proj.path / "invoke.yaml").write_text((proj.path / "invoke.yaml").read_text().replace(
            f"images: [{one.address}/a/app]", f"images: [{one.address}/a/app, {two.address}/b/app]"))
        proj.commit("two images", {"invoke.yaml": (proj.path / "invoke.yaml").read_text()})
        out = proj.invoke("version", "--tag", "v1.2.10", "--json")
        want = [f"{one.address}/a/app:1.2.10", f"{one.address}/a/app:1.2",
                f"{two.address}/b/app:1.2.10", f"{two.address}/b/app:1.2"]
    assert json.loads(out.stdout)["tags"] == want, "both lists were read"
    (a0, a1), (b0, b1) = slow_one.spans[0], slow_two.spans[0]
    assert a0 < b1 and b0 < a1, "the two reads overlapped"


def test_a_plan_or_a_dry_run_sends_no_ping(tmp_path):
    with ScriptedRegistry() as reg:
        reg.on("GET", r"/tags/list", (200, {}, {"tags": []}))
        proj = write_project(tmp_path / "p", f"{reg.address}/a/app")
        proj.invoke("version", "--tag", "v1.0.0")
        proj.invoke("release", "--tag", "v1.0.0", "--dry-run")
        assert reg.count("GET", r"^/v2/$") == 0
        assert reg.count("GET", r"/tags/list") == 2


@pytest.mark.services
def test_one_ping_per_registry_host(tmp_path, services):
    with FaultProxy(services.registry) as proxy:
        repo = f"t/prefetch-{time.monotonic_ns()}"
        proj = write_project(tmp_path / "p", f"{proxy.address}/{repo}-a")
        yaml = (proj.path / "invoke.yaml").read_text()
        yaml = yaml.replace(f"images: [{proxy.address}/{repo}-a]",
                            f"images: [{proxy.address}/{repo}-a, {proxy.address}/{repo}-b]")
        proj.commit("two images", {"invoke.yaml": yaml})
        proj.tag("v1.0.0")
        proj.invoke("push")
        tool_pings = [s for s in proxy.log if s.method == "GET" and s.path == "/v2/" and s.agent.startswith(TOOL)]
        assert len(tool_pings) == 1, "the second image of the same registry is not pinged again"


@pytest.fixture
def forge_project(tmp_path, fake_github, services, registry_repo):
    github_repo(fake_github, "acme/app", TOKEN, login="release-bot")
    extra = ("  forge:\n    type: github\n    github:\n      repository: acme/app\n"
             f"      api_url: {fake_github.url}\n")
    proj = write_project(tmp_path / "p", registry_repo, "")
    yaml = (proj.path / "invoke.yaml").read_text().replace("  forge:\n    type: none\n", extra)
    proj.commit("forge", {"invoke.yaml": yaml})
    proj.tag("v1.0.0")
    return proj


@pytest.mark.services
def test_the_forge_preflight_still_stops_the_run_before_the_build(forge_project, fake_github):
    out = forge_project.invoke("release", env=clean_env(GITHUB_TOKEN="ghp_not_a_known_token_000000000"),
                               check=False)
    assert out.returncode == 1, out.stderr
    assert "error:" in out.stderr and "token" in out.stderr.lower()
    assert "built " not in out.stdout + out.stderr, "nothing was built"
    assert fake_github.calls("GET"), "the preflight was asked"


@pytest.mark.services
def test_checks_report_in_their_order_while_the_forge_is_asked_early(forge_project, fake_github):
    (forge_project.path / "payload.txt").write_text("changed, not committed\n")
    out = forge_project.invoke("release", env=clean_env(GITHUB_TOKEN="ghp_not_a_known_token_000000000"),
                               check=False)
    assert out.returncode == 1
    assert "uncommitted changes" in out.stderr, "the working tree's check comes before the forge's"
    assert "not a known" not in out.stderr


@pytest.mark.services
def test_a_good_forge_token_is_checked_once(forge_project, fake_github):
    out = forge_project.invoke("release", env=clean_env(GITHUB_TOKEN=TOKEN))
    assert "preflight: the token can create releases on" in out.stdout
    assert fake_github.releases_for("acme/app", "v1.0.0")
