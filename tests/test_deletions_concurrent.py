"""Deletes of one cleanup at once (pipeline/deletions.py, issue 17): the first alone, then as many as the deleter
takes, bounded; objects attached to images only after the images; the report in the order of the actions;
a 405 still stops the rest, any other failure stops the cleanup saying what was done."""

from __future__ import annotations

import threading
import time

import pytest

from image_release.core.actions import DeleteAttached, DeleteManifest, DeleteTag
from image_release.errors import DeleteRefused, RegistryError
from image_release.pipeline.deletions import Deletions


def d(i: int) -> str:
    return "sha256:" + f"{i:064x}"


class FakeDeleter:
    """Deletes in memory, slowly enough to overlap; ``answers`` maps a digest or tag to an exception."""

    kind = "OCI registry"
    image = "127.0.0.1:5000/t/app"
    supports_single_tag = True
    supports_bulk = False

    def __init__(self, concurrency: int = 8, answers: dict | None = None, delay: float = 0.02):
        self.concurrency = concurrency
        self.answers = answers or {}
        self.delay = delay
        self.lock = threading.Lock()
        self.events: list[tuple[str, str]] = []  # ("start" | "end", what)
        self.now = self.peak = 0

    def _do(self, key: str) -> str:
        with self.lock:
            self.events.append(("start", key))
            self.now += 1
            self.peak = max(self.peak, self.now)
        time.sleep(self.delay)
        with self.lock:
            self.now -= 1
            self.events.append(("end", key))
        if key in self.answers:
            raise self.answers[key]
        return "manifest deleted"

    def delete_digest(self, digest, tags=()):
        return self._do(digest)

    def delete_tag(self, tag):
        return self._do(tag)


def manifests(n: int, start: int = 1) -> list[DeleteManifest]:
    return [DeleteManifest(FakeDeleter.image, d(i), (f"1.0.{i}",), f"reason {i}") for i in range(start, start + n)]


def refused(status=405):
    return DeleteRefused("registry 127.0.0.1:5000 refuses to delete it: UNSUPPORTED",
                         hint="enable deletion on the registry", status=status)


def test_all_go_concurrently_bounded_and_are_reported_in_order():
    actions = manifests(30) + [DeleteTag(FakeDeleter.image, "1.1.0", d(99), "lone")]
    deleter = FakeDeleter(concurrency=6)
    report = Deletions(deleter)(None, actions)
    assert [i.what for i in report.deleted] == [a.what for a in actions]
    assert report.ok and 1 < deleter.peak <= 6
    first = deleter.events[:2]
    assert first == [("start", d(1)), ("end", d(1))], "the first deletion goes alone"


def test_one_at_a_time_where_the_deleter_says_so():
    deleter = FakeDeleter(concurrency=1, delay=0)
    report = Deletions(deleter)(None, manifests(5))
    assert deleter.peak == 1 and len(report.deleted) == 5
    del deleter.concurrency  # a deleter that says nothing: one at a time
    assert Deletions(deleter)(None, manifests(3)).ok and deleter.peak == 1


def test_a_registry_refusing_all_deletion_is_asked_once():
    deleter = FakeDeleter(answers={d(1): refused()})
    report = Deletions(deleter)(None, manifests(10))
    assert [k for k, _ in deleter.events if k == "start"] == ["start"]
    assert report.deleted == [] and len(report.left_behind) == 10
    assert sum("not attempted" in i.detail for i in report.left_behind) == 9
    assert "refused deletion" in "\n".join(report.lines())


def test_a_405_later_stops_what_has_not_started():
    deleter = FakeDeleter(concurrency=4, answers={d(6): refused()})
    report = Deletions(deleter)(None, manifests(40))
    started = [k for e, k in deleter.events if e == "start"]
    assert len(started) < 40, "nothing starts after the refusal"
    assert d(6) in started and started.index(d(6)) <= 5
    left = report.left_behind
    assert left[0].what == manifests(1, 6)[0].what and "UNSUPPORTED" in left[0].detail
    untried = [i for i in left if "not attempted" in i.detail]
    assert len(report.deleted) + len(left) == 40 and len(untried) == 40 - len(started)
    whats = [a.what for a in manifests(40)]
    assert [i.what for i in report.deleted] == [w for w in whats if w in {i.what for i in report.deleted}]
    with pytest.raises(DeleteRefused) as exc:
        Deletions(FakeDeleter(concurrency=4, answers={d(6): refused()}), fail_on_refused=True)(None, manifests(40))
    assert "left images behind" in exc.value.message


def test_a_refusal_of_one_item_leaves_it_and_goes_on():
    deleter = FakeDeleter(concurrency=4, answers={d(3): refused(status=403)})
    report = Deletions(deleter)(None, manifests(12))
    assert len(report.deleted) == 11 and [i.what for i in report.left_behind] == [manifests(1, 3)[0].what]


def test_a_failure_stops_the_cleanup_and_says_what_was_done():
    deleter = FakeDeleter(concurrency=4, answers={d(5): RegistryError("registry 127.0.0.1:5000 refused DELETE", status=500)})
    with pytest.raises(RegistryError) as exc:
        Deletions(deleter)(None, manifests(30))
    message = exc.value.message
    assert "cleanup of 127.0.0.1:5000/t/app stopped; deleted so far: manifest" in message
    done, todo = message.split("deleted so far: ")[1].split("; not done: ")
    started = [k for e, k in deleter.events if e == "start"]
    assert len(started) < 30
    assert todo.startswith(manifests(1, 5)[0].what)
    assert len(done.split(", manifest")) + len(todo.rstrip(")").split(", manifest")) == 30
    assert exc.value.report.deleted and all(i.what in done for i in exc.value.report.deleted)


def test_attached_objects_go_only_after_the_images():
    images = manifests(6)
    attached = [DeleteAttached(FakeDeleter.image, d(100 + i), (f"sha256-{d(i)[7:]}.sig",), "its image goes",
                               subject=d(i)) for i in range(1, 7)]
    deleter = FakeDeleter(concurrency=8)
    report = Deletions(deleter)(None, images + attached)
    assert len(report.deleted) == 12
    last_image_end = max(i for i, (e, k) in enumerate(deleter.events) if e == "end" and k in {a.digest for a in images})
    first_attached = min(i for i, (e, k) in enumerate(deleter.events) if k in {a.digest for a in attached})
    assert last_image_end < first_attached
    assert deleter.peak > 1
