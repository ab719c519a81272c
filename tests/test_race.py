"""Two real releases of one repository at once (`v1.2.4` and `v1.3.0`), against the same registry repository.

Each release runs the real `invoke release` in its own clone, as two CI jobs do. The clone releasing v1.2.4
does not know the tag v1.3.0 (it was pushed after that job's checkout), so both plan to move `1` and `latest`;
whichever finishes last, every floating tag must end on the highest version's image: `1` and `latest` on
1.3.0, `1.2` on 1.2.4, `1.3` on 1.3.0. Rounds start the two runs with different offsets.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pytest

from tests.fixtures.services import skopeo_digest, skopeo_tags
from tests.fixtures.project import Project, clean_env, write_project

pytestmark = pytest.mark.services


def _clone(origin: Project, dest, image: str, tag: str, forget: str | None) -> Project:
    subprocess.run(["git", "clone", "-q", str(origin.path), str(dest)], check=True, capture_output=True,
                   env=clean_env())
    clone = Project(dest, image)
    clone.checkout(tag)
    if forget:
        clone.git("tag", "-d", forget)  # this job's checkout predates the other tag
    return clone


def _start(proj: Project, tag: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "invoke", "release", "--tag", tag], cwd=proj.path,
                            env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("first, offset", [("v1.2.4", 0.0), ("v1.3.0", 0.4), ("v1.2.4", 0.4), ("v1.2.4", 1.0)])
def test_concurrent_releases_leave_every_floating_tag_on_the_highest_version(tmp_path, services, first, offset):
    image = f"{services.registry}/t/race-{uuid.uuid4().hex[:10]}"
    origin = write_project(tmp_path / "origin", image, "  retry:\n    attempts: 4\n    base_delay: 0.05\n")
    origin.content("1.2.4")
    origin.tag("v1.2.4")
    origin.content("1.3.0")
    origin.tag("v1.3.0")
    clones = {
        "v1.2.4": _clone(origin, tmp_path / "job-124", image, "v1.2.4", forget="v1.3.0"),
        "v1.3.0": _clone(origin, tmp_path / "job-130", image, "v1.3.0", forget=None),
    }
    second = "v1.3.0" if first == "v1.2.4" else "v1.2.4"
    procs = {first: _start(clones[first], first)}
    if offset:
        time.sleep(offset)  # a start offset, not a timing assertion
    procs[second] = _start(clones[second], second)
    outs = {tag: p.communicate(timeout=240) for tag, p in procs.items()}
    for tag, p in procs.items():
        assert p.returncode == 0, f"{tag} failed ({p.returncode}):\n{outs[tag][0]}\n{outs[tag][1]}"
        assert "Traceback" not in outs[tag][1]

    tags = {t: skopeo_digest(f"{image}:{t}") for t in skopeo_tags(image)}
    assert sorted(tags) == ["1", "1.2", "1.2.4", "1.3", "1.3.0", "latest"], tags
    assert tags["1.2.4"] != tags["1.3.0"]
    assert tags["1"] == tags["latest"] == tags["1.3"] == tags["1.3.0"], tags
    assert tags["1.2"] == tags["1.2.4"], tags


def test_the_lower_release_overwriting_after_the_higher_ones_put_is_repaired_and_both_succeed(tmp_path, services):
    """The worst interleaving, forced with two fault proxies (one per job, same registry repository):
    1.3.0 puts `1`, then 1.2.4 (which does not know 1.3.0) overwrites `1` and `latest`; 1.3.0 settles its
    tags (the HEAD of its version tag) while 1.2.4 waits before its own repair reads the tag list. The
    registry's answer to 1.3.0's PUT was its read-back, so only 1.2.4's repair can see the overwrite. Both
    jobs must succeed and the tags end on 1.3.0."""
    import threading

    from tests.fakes.fault_proxy import FaultProxy

    repo = f"t/race-{uuid.uuid4().hex[:10]}"
    b_put, a_at_repair, b_read = threading.Event(), threading.Event(), threading.Event()
    with FaultProxy(services.registry) as pa, FaultProxy(services.registry) as pb:
        origin = write_project(tmp_path / "origin", f"{pa.address}/{repo}", "")
        origin.content("1.2.4")
        origin.tag("v1.2.4")
        origin.content("1.3.0")
        origin.tag("v1.3.0")
        a = _clone(origin, tmp_path / "job-124", f"{pa.address}/{repo}", "v1.2.4", forget="v1.3.0")
        b = _clone(origin, tmp_path / "job-130", f"{pb.address}/{repo}", "v1.3.0", forget=None)
        # Job B's image goes through proxy B; job A does not read the registry's versions at plan time.
        yaml_b = (b.path / "invoke.yaml").read_text().replace(pa.address, pb.address)
        (b.path / "invoke.yaml").write_text(yaml_b)
        b.git("commit", "-qam", "ci: job B's registry address")
        yaml_a = (a.path / "invoke.yaml").read_text() + "  known_versions:\n    registry: false\n"
        (a.path / "invoke.yaml").write_text(yaml_a)
        a.git("commit", "-qam", "ci: job A reads no registry versions")
        a.git("tag", "-f", "v1.2.4")
        b.git("tag", "-f", "v1.3.0")

        pb.add("PUT", r"/manifests/1$", "pass", agent="python-requests", after=b_put.set)
        pa.hold("PUT", r"/manifests/1$", b_put, agent="python-requests")
        # B's first HEAD of its version tag is the read right before its PUT; the second settles its tags
        pb.add("HEAD", r"/manifests/1\.3\.0$", "pass", agent="python-requests")
        pb.hold("HEAD", r"/manifests/1\.3\.0$", a_at_repair, agent="python-requests", after=b_read.set)
        pa.hold("GET", r"/tags/list", b_read, before=a_at_repair.set)

        procs = {"v1.2.4": _start(a, "v1.2.4"), "v1.3.0": _start(b, "v1.3.0")}
        outs = {tag: p.communicate(timeout=240) for tag, p in procs.items()}
        assert b_put.is_set() and a_at_repair.is_set() and b_read.is_set(), "the interleaving happened"
    for tag, p in procs.items():
        assert p.returncode == 0, f"{tag} failed ({p.returncode}):\n{outs[tag][0]}\n{outs[tag][1]}"
    upstream = f"{services.registry}/{repo}"
    tags = {t: skopeo_digest(f"{upstream}:{t}") for t in skopeo_tags(upstream)}
    assert tags["1"] == tags["latest"] == tags["1.3"] == tags["1.3.0"] != tags["1.2.4"], tags
    assert tags["1.2"] == tags["1.2.4"], tags
    assert "repaired" in outs["v1.2.4"][0] + outs["v1.3.0"][0]
