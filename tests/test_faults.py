"""Faults injected between the tool and the real registry, and between the tool and the GitHub fake.

Each test runs the real `invoke` command line in a temp git project whose image lives at the fault
proxy's address (``127.0.0.1:<proxy>/t/<random>``): the tool's own registry client does every request,
the push of the version tag's blobs and manifest included (the engine pushes nothing). After each run the
registry is read by an independent client (skopeo, straight at 127.0.0.1:5000).
"""

from __future__ import annotations

import re
import subprocess
import uuid

import pytest

from tests.fakes.fault_proxy import FaultProxy
from tests.fakes.github_api import FakeGitHub
from tests.fixtures.services import skopeo_digest, skopeo_tags
from tests.fixtures.project import Project, clean_env, write_project

pytestmark = pytest.mark.services

REGISTRY = "127.0.0.1:5000"
FAST_RETRY = (
    "  retry:\n    attempts: 4\n    base_delay: 0.05\n    max_delay: 2\n"
    "  registry:\n    timeout: 1\n"
)
TOOL = "python-requests"  # the tool's registry client, as the proxy sees it


@pytest.fixture
def proxy(services):
    with FaultProxy(REGISTRY) as p:
        yield p


class Setup:
    def __init__(self, proj: Project, repo: str, proxy: FaultProxy):
        self.proj, self.repo, self.proxy = proj, repo, proxy

    @property
    def upstream(self) -> str:
        return f"{REGISTRY}/{self.repo}"

    def tags(self) -> dict[str, str]:
        """tag -> digest, read by skopeo from the registry itself (not through the proxy)."""
        return {t: skopeo_digest(f"{self.upstream}:{t}") for t in skopeo_tags(self.upstream)}

    def release(self, tag: str, env: dict | None = None):
        return self.proj.invoke("release", "--tag", tag, check=False, env=env)


@pytest.fixture
def setup(tmp_path, proxy) -> Setup:
    repo = f"t/{uuid.uuid4().hex[:12]}"
    proj = write_project(tmp_path / "app", f"{proxy.address}/{repo}", FAST_RETRY)
    return Setup(proj, repo, proxy)


def ok(out) -> str:
    assert out.returncode == 0, f"exit {out.returncode}\n{out.stdout}\n{out.stderr}"
    assert "Traceback" not in out.stderr
    return out.stderr


def failed(out, code: int = 1) -> str:
    assert out.returncode == code, f"exit {out.returncode}\n{out.stdout}\n{out.stderr}"
    assert "Traceback" not in out.stderr and "internal error" not in out.stderr
    assert "error:" in out.stderr and "hint:" in out.stderr
    return out.stderr


def one_digest(tags: dict[str, str], names=("1", "1.2", "1.2.3", "latest")) -> str:
    assert sorted(tags) == sorted(names), tags
    assert len(set(tags.values())) == 1, tags
    return next(iter(tags.values()))


# -- transient registry faults: retried, the release succeeds ------------------------------------
TRANSIENT = [
    pytest.param("reset", "HEAD", r"/manifests/1\.2\.3$", TOOL, {}, "ConnectionError", id="reset-HEAD-version"),
    pytest.param("delay", "PUT", r"/manifests/1$", TOOL, {"seconds": 3}, "Timeout", id="timeout-PUT-floating"),
    pytest.param(500, "GET", r"^/v2/$", TOOL, {}, "HTTP 500", id="500-ping"),
    # the version's manifest is not read back (its PUT's answer is the read-back); the tag list is a GET
    pytest.param(502, "GET", r"/tags/list", TOOL, {}, "HTTP 502", id="502-GET-tags"),
    pytest.param(503, "PUT", r"/manifests/1\.2$", TOOL, {}, "HTTP 503", id="503-PUT-floating"),
    # the settling read of the version tag after every other tag is put (the PUT answers are their read-back)
    pytest.param(504, "HEAD", r"/manifests/1\.2\.3$", TOOL, {}, "HTTP 504", id="504-HEAD-readback"),
    pytest.param(408, "PUT", r"/manifests/latest$", TOOL, {}, "HTTP 408", id="408-PUT-latest"),
    pytest.param(429, "PUT", r"/manifests/1$", TOOL, {"retry_after": 1}, "HTTP 429 (Retry-After 1)",
                 id="429-retry-after"),
    # the version tag is pushed by the tool's own client (blobs, then the manifest), not by the engine
    pytest.param(503, "PUT", r"/manifests/1\.2\.3$", TOOL, {}, "503", id="503-PUT-version"),
    pytest.param("reset", "PUT", r"/manifests/1\.2\.3$", TOOL, {}, "", id="reset-PUT-version"),
    pytest.param("delay", "PUT", r"/manifests/1\.2\.3$", TOOL, {"seconds": 0.1}, "", id="eof-PUT-version"),
    pytest.param(429, "POST", r"/blobs/uploads/$", TOOL, {}, "HTTP 429", id="429-blob-upload-start"),
    pytest.param("delay", "POST", r"/blobs/uploads/$", TOOL, {"seconds": 0.1}, "", id="eof-blob-upload-start"),
    pytest.param("reset", "PUT", r"/blobs/uploads/[^/?]+\?", TOOL, {}, "", id="reset-blob-PUT"),
    pytest.param(503, "PUT", r"/blobs/uploads/[^/?]+\?", TOOL, {}, "HTTP 503", id="503-blob-PUT"),
    pytest.param(500, "HEAD", r"/blobs/sha256:", TOOL, {}, "HTTP 500", id="500-blob-HEAD"),
]


@pytest.mark.parametrize("fault, method, path, agent, kw, logged", TRANSIENT)
def test_transient_registry_fault_is_retried_and_the_release_succeeds(setup, fault, method, path, agent, kw,
                                                                       logged):
    p = setup.proxy
    if fault in ("reset", "delay"):
        rule = p.add(method, path, fault, agent=agent, **kw)
    else:
        rule = p.status(method, path, fault, agent=agent, **kw)
    err = ok(setup.release("v1.2.3"))
    assert rule.hits == 1
    assert p.count(method, path, outcome="forwarded") >= 1, "the request was made again, and went through"
    retries = [ln for ln in err.splitlines() if "retry" in ln]
    assert retries, f"the retry is logged:\n{err}"
    assert logged in "\n".join(retries)
    one_digest(setup.tags())


# -- 4xx (other than 408/429): not retried ---------------------------------------------------------
@pytest.mark.parametrize("status", [400, 401, 403, 404, 405])
def test_client_errors_are_not_retried(setup, status):
    p = setup.proxy
    rule = p.status("PUT", r"/manifests/1\.2$", status, times=None, agent=TOOL)
    err = failed(setup.release("v1.2.3"))
    assert rule.hits == 1, "asked once, never again"
    assert "retry PUT" not in err
    assert f"{setup.proj.image}:1.2" in err
    assert re.search(r"already published: \S+:1\.2\.3", err)
    assert "re-run the same command" in err
    tags = setup.tags()
    assert sorted(tags) == ["1.2.3"], "no floating tag moved"


# -- lasting faults: clean failure, floating tags untouched, re-running converges ----------------------
def _first_release(setup) -> str:
    ok(setup.release("v1.1.0"))
    tags = setup.tags()
    assert sorted(tags) == ["1", "1.1", "1.1.0", "latest"]
    setup.proj.content("1.2.0")
    setup.proj.tag("v1.2.0")
    return tags["1.1.0"]


def _converges(setup, old: str) -> None:
    setup.proxy.clear()
    ok(setup.release("v1.2.0"))
    tags = setup.tags()
    assert tags["1.1.0"] == tags["1.1"] == old
    new = tags["1.2.0"]
    assert new != old and tags["1.2"] == tags["1"] == tags["latest"] == new
    assert sorted(tags) == ["1", "1.1", "1.1.0", "1.2", "1.2.0", "latest"]
    # And once more: a third run ends the same way (the image's `created` label is the run's time, so the
    # digest may be new; the old one is then replaced, not left behind).
    ok(setup.release("v1.2.0"))
    again = setup.tags()
    assert sorted(again) == sorted(tags) and again["1.1.0"] == old
    assert len({again[t] for t in ("1.2.0", "1.2", "1", "latest")}) == 1
    if again["1.2.0"] != new:
        assert skopeo_digest(f"{setup.upstream}@{new}") is None


def test_lasting_fault_on_a_floating_tag_stops_says_what_was_published_and_rerun_converges(setup):
    old = _first_release(setup)
    rule = setup.proxy.status("PUT", r"/manifests/1$", 503, times=None)
    err = failed(setup.release("v1.2.0"))
    assert rule.hits == 4, "the policy's 4 attempts"
    assert len([ln for ln in err.splitlines() if "retry PUT" in ln]) == 3
    assert f"could not tag {setup.proj.image}:1" in err
    published = re.search(r"already published: (.*)", err).group(1).split(", ")
    assert "re-run the same command" in err
    tags = setup.tags()
    assert tags["1"] == old, "the tag that failed is where it was"
    # 1.2 went alone first, then 1 and latest at once (apply_tags.PUT_WIDTH): latest is out, and listed
    assert published == [f"{setup.proj.image}:{t}" for t in ("1.2.0", "1.2", "latest")]
    assert tags["1.2.0"] == tags["1.2"] == tags["latest"] != old
    _converges(setup, old)


def test_the_extra_tags_go_at_once_after_the_first(setup):
    """The floating tags' PUTs overlap (bounded), after the first alone: the PUT of `latest` reaches the
    registry while the PUT of `1` is still held; a registry that refuses the first moves no other."""
    import threading

    old = _first_release(setup)
    released, answered, overlapped = threading.Event(), threading.Event(), []
    hold = setup.proxy.hold("PUT", r"/manifests/1$", released, seconds=15, agent=TOOL)
    hold.after = answered.set
    setup.proxy.add("PUT", r"/manifests/latest$", "pass", agent=TOOL,
                    before=lambda: (overlapped.append(hold.hits == 1 and not answered.is_set()), released.set()))
    ok(setup.release("v1.2.0"))
    assert overlapped == [True], "latest was put while 1 was in flight"
    tags = setup.tags()
    assert tags["1.2"] == tags["1"] == tags["latest"] == tags["1.2.0"] != old

    setup.proxy.clear()
    setup.proj.content("1.3.0")
    setup.proj.tag("v1.3.0")
    rule = setup.proxy.status("PUT", r"/manifests/1\.3$", 403, times=None, agent=TOOL)
    err = failed(setup.release("v1.3.0"))
    assert rule.hits == 1 and "could not tag" in err and f"{setup.proj.image}:1.3" in err
    after = setup.tags()
    assert after["1"] == after["latest"] == tags["1"], "the first refused: no other tag moved"


def test_lasting_engine_push_fault_publishes_nothing_and_rerun_converges(setup):
    old = _first_release(setup)
    rule = setup.proxy.status("PUT", r"/manifests/1\.2\.0$", 500, times=None, agent=TOOL)  # our own push
    err = failed(setup.release("v1.2.0"))
    assert rule.hits == 4
    assert "1.2.0" in err and "re-run the same command" in err
    assert "was not published" in err, "says that nothing was published"
    tags = setup.tags()
    assert sorted(tags) == ["1", "1.1", "1.1.0", "latest"] and set(tags.values()) == {old}
    _converges(setup, old)


def test_lasting_fault_after_the_version_tag_leaves_floating_tags_alone(setup):
    old = _first_release(setup)
    # the first request after the version tag's PUT (whose answer is its read-back: no GET follows)
    setup.proxy.status("PUT", r"/manifests/1\.2$", 502, times=None, agent=TOOL)
    err = failed(setup.release("v1.2.0"))
    assert re.search(r"already published: \S+:1\.2\.0", err)
    assert "re-run the same command" in err
    tags = setup.tags()
    assert tags["1"] == tags["latest"] == tags["1.1"] == old and "1.2" not in tags
    _converges(setup, old)


def test_lasting_fault_on_the_readback_says_what_was_published(setup):
    old = _first_release(setup)
    setup.proxy.add("HEAD", r"/manifests/1\.2\.0$", "pass", agent=TOOL)  # the read right before the version PUT
    setup.proxy.status("HEAD", r"/manifests/1\.2\.0$", 503, times=None, agent=TOOL)  # settling the version's tags
    err = failed(setup.release("v1.2.0"))
    assert "already published:" in err and "re-run the same command" in err
    _converges(setup, old)


def test_registry_gone_fails_before_anything_is_built(setup):
    rule = setup.proxy.reset("*", r".", times=None)
    err = failed(setup.release("v1.2.3"))
    assert rule.hits >= 4
    assert f"cannot reach registry {setup.proxy.address}" in err
    # One round of retries (issue 18: the plan's read and the preflight's ping each made a full round):
    # the plan's read of the tag list retries, and the preflight reports that failure without pinging again.
    retries = [ln for ln in err.splitlines() if ln.startswith("warning: retry")]
    assert len(retries) == 3 and all("tags" in ln for ln in retries), err
    assert not any(re.search(r"retry GET \S+ \(?ping|retry ping", ln) for ln in err.splitlines()), err
    assert all(not ln.rstrip().endswith("...") for ln in err.splitlines()), "whole lines, not cut mid-word"
    img = subprocess.run(["/usr/bin/docker", "image", "inspect", f"{setup.proj.image}:1.2.3"],
                         capture_output=True, env=clean_env())
    assert img.returncode != 0, "nothing was built"
    assert setup.tags() == {}


# -- the GitHub forge behind the proxy ----------------------------------------------------------------
GH_TOKEN = "ghp_faulttoken0123456789abcdefABCDEF01"
GH_REPO = "acme/app"


@pytest.fixture
def forge(tmp_path, registry_repo):
    with FakeGitHub() as gh, FaultProxy(gh.url, style="github") as p:
        gh.add_token(GH_TOKEN, login="release-bot")
        gh.add_repo(GH_REPO)
        extra = (
            FAST_RETRY
            + "  notes:\n    assets: [digests]\n"
            + f"  forge:\n    type: github\n    github:\n      repository: {GH_REPO}\n      api_url: {p.url}\n"
        )
        proj = write_project(tmp_path / "app", registry_repo, "")
        # write_project put `forge: type: none` in; replace the whole file's forge section.
        text = (proj.path / "invoke.yaml").read_text().replace("  forge:\n    type: none\n", "")
        (proj.path / "invoke.yaml").write_text(text + extra)
        proj.git("commit", "-qam", "chore: github forge")
        yield gh, p, proj


def gh_env(token: str = GH_TOKEN) -> dict:
    return clean_env(GITHUB_TOKEN=token)


def releases(gh, tag="v1.2.3"):
    return gh.releases_for(GH_REPO, tag)


def test_forge_5xx_once_is_retried_and_makes_one_release(forge):
    gh, p, proj = forge
    rule = p.status("POST", r"/repos/acme/app/releases$", 502)
    out = proj.invoke("release", "--tag", "v1.2.3", env=gh_env(), check=False)
    err = ok(out)
    assert rule.hits == 1 and p.count("POST", r"/releases$", outcome="forwarded") == 1
    assert "retry POST /repos/acme/app/releases: HTTP 502" in err, "the forge's retry is logged"
    rels = releases(gh)
    assert len(rels) == 1 and not rels[0]["draft"]
    assert list(gh.asset_files(rels[0]["id"])) == ["digests.txt"] or len(gh.asset_files(rels[0]["id"])) == 1


def test_forge_bad_token_is_a_clear_error_before_anything_is_built(forge):
    gh, _p, proj = forge
    out = proj.invoke("release", "--tag", "v1.2.3", env=gh_env("ghp_wrongtoken0123456789abcdefABCDEF"), check=False)
    err = failed(out)
    assert "GITHUB_TOKEN" in err or "token" in err.lower()
    assert "ghp_wrongtoken" not in out.stdout + err
    assert releases(gh) == []
    assert skopeo_tags(proj.image) == []
    img = subprocess.run(["/usr/bin/docker", "image", "inspect", f"{proj.image}:1.2.3"], capture_output=True,
                         env=clean_env())
    assert img.returncode != 0


def test_forge_401_on_create_is_not_retried(forge):
    gh, p, proj = forge
    rule = p.status("POST", r"/repos/acme/app/releases$", 401, times=None)
    out = proj.invoke("release", "--tag", "v1.2.3", env=gh_env(), check=False)
    err = failed(out)
    assert rule.hits == 1
    assert "GITHUB_TOKEN" in err
    assert releases(gh) == []
    # the images are out; the message says how to finish
    assert "1.2.3" in skopeo_tags(proj.image)
    assert "re-run" in err


def test_forge_already_exists_race_ends_with_one_release(forge):
    gh, _p, proj = forge
    gh.before("POST", r"/repos/acme/app/releases$",
              lambda: gh.add_release(GH_REPO, "v1.2.3", body="made by another run"))
    ok(proj.invoke("release", "--tag", "v1.2.3", env=gh_env(), check=False))
    published = [r for r in releases(gh) if not r["draft"]]
    assert len(published) == 1
    assert len(releases(gh)) == 1, "our own draft is gone"


def test_forge_lasting_5xx_fails_cleanly_and_rerun_converges(forge):
    gh, p, proj = forge
    rule = p.status("POST", r"/repos/acme/app/releases$", 503, times=None)
    err = failed(proj.invoke("release", "--tag", "v1.2.3", env=gh_env(), check=False))
    assert rule.hits >= 2, "retried"
    assert "re-run" in err
    pushed = {t: skopeo_digest(f"{proj.image}:{t}") for t in skopeo_tags(proj.image)}
    assert sorted(pushed) == ["1", "1.2", "1.2.3", "latest"]
    p.clear()
    for _ in range(2):
        ok(proj.invoke("release", "--tag", "v1.2.3", env=gh_env(), check=False))
        rels = releases(gh)
        assert len(rels) == 1 and not rels[0]["draft"]
        assert sorted(gh.asset_files(rels[0]["id"])) == sorted(set(gh.asset_files(rels[0]["id"])))
        assert len(gh.asset_files(rels[0]["id"])) == 1
    after = {t: skopeo_digest(f"{proj.image}:{t}") for t in skopeo_tags(proj.image)}
    assert sorted(after) == sorted(pushed) and len(set(after.values())) == 1


# -- the GitLab forge behind the proxy ----------------------------------------------------------------
GL_TOKEN = "glpat-faulttoken0123456789abcdef"


@pytest.fixture
def gitlab(tmp_path, registry_repo):
    from tests.fakes.gitlab_api import DEVELOPER, FakeGitLab

    with FakeGitLab() as gl, FaultProxy(gl.url, style="gitlab") as p:
        proj = write_project(tmp_path / "app", registry_repo, "")
        project = gl.add_project("group/app", project_id=7)
        gl.add_private_token(GL_TOKEN, access={project.id: DEVELOPER})
        text = (proj.path / "invoke.yaml").read_text().replace("  forge:\n    type: none\n", "")
        (proj.path / "invoke.yaml").write_text(
            text + FAST_RETRY
            + f"  forge:\n    type: gitlab\n    gitlab:\n      url: {p.url}\n      project: group/app\n")
        proj.git("commit", "-qam", "chore: gitlab forge")
        proj.tag("v1.2.3")
        project.git_tags["v1.2.3"] = proj.head()
        yield gl, p, proj, project


def test_gitlab_5xx_once_is_retried_and_a_rerun_converges(gitlab):
    _gl, p, proj, project = gitlab
    rule = p.status("POST", r"/projects/[^/]+/releases$", 502)
    env = clean_env(GITLAB_TOKEN=GL_TOKEN)
    err = ok(proj.invoke("release", "--tag", "v1.2.3", env=env, check=False))
    assert re.search(r"GitLab answered HTTP 502 to POST /api/v4/projects/\S+/releases", err), err
    assert rule.hits == 1 and p.count("POST", r"/releases$", outcome="forwarded") == 1
    assert list(project.releases) == ["v1.2.3"]
    links = project.releases["v1.2.3"]["links"]
    assert links, "the images are release links"
    ok(proj.invoke("release", "--tag", "v1.2.3", env=env, check=False))
    assert list(project.releases) == ["v1.2.3"]
    again = project.releases["v1.2.3"]["links"]
    names = [link["name"] for link in again]
    assert len(again) == len(links) and len(names) == len(set(names)), "no duplicate links"


def test_images_on_two_registries_publish_at_once_and_report_in_order(tmp_path, proxy):
    """Two registries (two loopback ports) take their images at the same time: each version tag's PUT is
    held until both have arrived, so one after the other would wait out the hold. Each image's lines still
    come under its own heading, in the order of release.images."""
    import threading

    with FaultProxy(REGISTRY) as other:
        a = f"{proxy.address}/t/{uuid.uuid4().hex[:12]}"
        b = f"{other.address}/t/{uuid.uuid4().hex[:12]}"
        proj = write_project(tmp_path / "app", f"{a}, {b}")  # the default timeout: a held PUT is not retried
        proj.tag("v1.0.0")
        both, arrived, answered, overlapped = threading.Event(), [], [], []

        def arrive():
            arrived.append(1)
            if len(arrived) == 2:
                overlapped.append(not answered)
                both.set()

        for p in (proxy, other):
            p.hold("PUT", r"/manifests/1\.0\.0$", both, seconds=15, agent=TOOL, before=arrive,
                   after=lambda: answered.append(1))
        out = proj.invoke("release", "--tag", "v1.0.0").stdout
    assert overlapped == [True], "the second version tag's PUT arrived while the first was in flight"
    lines = out.splitlines()
    heads = [i for i, ln in enumerate(lines) if ln.startswith("==> publish ")]
    assert [lines[i] for i in heads] == [f"==> publish {a}", f"==> publish {b}"]
    assert all(f"tagged {a}:" in ln for ln in lines[heads[0] + 1:heads[1]] if ln.startswith("tagged "))
    assert any(ln.startswith(f"tagged {b}:") for ln in lines[heads[1] + 1:])
    upstream = [f"{REGISTRY}/{x.split('/', 1)[1]}" for x in (a, b)]
    assert skopeo_tags(upstream[0]) == skopeo_tags(upstream[1]) == ["1", "1.0", "1.0.0", "latest"]
    assert skopeo_digest(f"{upstream[0]}:latest") == skopeo_digest(f"{upstream[1]}:latest")
