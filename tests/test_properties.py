"""Property-based tests (hypothesis) that the other suites do not already have.

Version parsing (tests/test_versions.py), tag-rule parsing and evaluation (tests/test_tag_rules.py) and the
floating-tag guard (tests/test_plan.py) have their properties already; here:

* settings: any value in any setting gives a Settings or a ConfigError with a hint, nothing else;
* the redactor: no planted secret survives, however the text around it looks;
* the retry policy: backoff bounded and growing, any Retry-After header read safely;
* the publish protocol under concurrency: several releases of one repository, each knowing only some of the
  others' versions, run the real ``_publish_image`` (version tag, floating puts, read-back, race repair)
  against an in-memory registry with their registry operations interleaved in any order; every release
  succeeds and every floating tag ends on its owner (the highest stable version the rules give it).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from image_release.adapters.http_retry import RetryPolicy, parse_retry_after
from image_release.core.context import TAG, Context
from image_release.errors import ConfigError
from image_release.pipeline.redact import Redactor
from image_release.settings import DEFAULTS, parse_settings

# -- settings -------------------------------------------------------------------------------------------

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True),
                     st.text(max_size=12), st.sampled_from(["on", "off", "auto", "github", "id=x,env=Y", "{version}"]))
_values = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                       max_leaves=6)


def _paths(d: dict, prefix=()) -> list[tuple[str, ...]]:
    out = []
    for k, v in d.items():
        out.append(prefix + (k,))
        if isinstance(v, dict) and v:
            out.extend(_paths(v, prefix + (k,)))
    return out


_SETTING_PATHS = _paths(DEFAULTS)


def _nest(path: tuple[str, ...], value) -> dict:
    for key in reversed(path):
        value = {key: value}
    return value


@hsettings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_SETTING_PATHS), _values), max_size=4))
def test_property_any_setting_value_is_settings_or_a_config_error(overrides):
    raw: dict = {}
    for path, value in overrides:
        node = raw
        for key in path[:-1]:
            nxt = node.get(key)
            if not isinstance(nxt, dict):
                nxt = node[key] = {}
            node = nxt
        node[path[-1]] = value
    try:
        parse_settings(raw)
    except ConfigError as e:
        assert e.message and e.hint


# -- redaction ----------------------------------------------------------------------------------------

_secret = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=4, max_size=16)


@hsettings(max_examples=300, deadline=None)
@given(st.lists(_secret, min_size=1, max_size=3), st.lists(st.text(max_size=10), min_size=1, max_size=5), st.data())
def test_property_no_planted_secret_survives_redaction(secrets, pieces, data):
    text = ""
    for piece in pieces:
        text += piece + data.draw(st.sampled_from(secrets))
    out = Redactor(secrets)(text)
    for s in secrets:
        assert s not in out or s in "***", (s, out)


# -- retry policy --------------------------------------------------------------------------------------

@given(st.integers(1, 10), st.floats(0, 5), st.floats(0, 60), st.floats(0, 1), st.integers(1, 12))
def test_property_backoff_is_bounded_and_grows(attempts, base, cap, r, n):
    policy = RetryPolicy(attempts=attempts, base_delay=base, max_delay=cap, jitter=False)
    d = policy.backoff(n)
    assert 0 <= d <= cap
    assert policy.backoff(n + 1) >= d
    jittered = RetryPolicy(attempts=attempts, base_delay=base, max_delay=cap).backoff(n, lambda: r)
    assert d / 2 - 1e-9 <= jittered <= d + 1e-9


@given(st.text(max_size=40))
def test_property_retry_after_is_none_or_a_non_negative_delay(value):
    got = parse_retry_after(value, now=0.0)
    assert got is None or got >= 0


# -- the publish protocol under any interleaving ----------------------------------------------------------

class _Scheduler:
    """Runs one thread per release and lets exactly one proceed at a time, before each registry operation,
    in the order ``choose`` picks (hypothesis draws it)."""

    def __init__(self, choose):
        self.choose = choose
        self.cv = threading.Condition()
        self.turn: str | None = None
        self.waiting: set[str] = set()
        self.live: set[str] = set()

    def checkpoint(self) -> None:
        me = threading.current_thread().name
        with self.cv:
            self.waiting.add(me)
            self.cv.notify_all()
            assert self.cv.wait_for(lambda: self.turn == me, timeout=20), "scheduler stalled"
            self.turn = None
            self.waiting.discard(me)

    def finished(self) -> None:
        with self.cv:
            self.live.discard(threading.current_thread().name)
            self.cv.notify_all()

    def run(self, jobs: dict) -> dict:
        errors: dict = {}

        def body(name, fn):
            try:
                self.checkpoint()
                fn()
            except BaseException as e:  # noqa: BLE001 - reported below
                errors[name] = e
            finally:
                self.finished()

        threads = [threading.Thread(target=body, args=(n, fn), name=n, daemon=True) for n, fn in jobs.items()]
        self.live = set(jobs)
        for t in threads:
            t.start()
        with self.cv:
            while self.live:
                assert self.cv.wait_for(lambda: self.live and self.live <= self.waiting and self.turn is None
                                        or not self.live, timeout=20), "releases stalled"
                if not self.live:
                    break
                self.turn = self.choose(sorted(self.waiting))
                self.cv.notify_all()
                self.cv.wait_for(lambda: self.turn is None, timeout=20)
        for t in threads:
            t.join(5)
        return errors


@dataclass
class _Info:
    digest: str
    media_type: str = "application/vnd.oci.image.manifest.v1+json"
    size: int = 0


class _Registry:
    """One repository in memory; every call is a scheduling point."""

    def __init__(self, sched: _Scheduler):
        self.sched = sched
        self.tags: dict[str, str] = {}
        self.blobs: dict[str, bytes] = {}
        self.lock = threading.Lock()
        self.credentials = None

    def _op(self):
        self.sched.checkpoint()

    def push_blob(self, repo, digest, data=None, *, mount_from=()):
        self._op()
        with self.lock:
            self.blobs[digest] = data.read_bytes()
        return "uploaded"

    def list_tags(self, repo):
        self._op()
        with self.lock:
            return list(self.tags)

    def head_manifest(self, repo, ref):
        self._op()
        with self.lock:
            digest = ref if ref.startswith("sha256:") else self.tags.get(ref)
            return _Info(digest) if digest in self.blobs else None

    def get_manifest(self, repo, ref):
        from image_release.adapters.registry import OCI_MANIFEST, Manifest

        self._op()
        with self.lock:
            digest = ref if ref.startswith("sha256:") else self.tags[ref]
            return Manifest.from_bytes(self.blobs[digest], OCI_MANIFEST)

    def put_manifest(self, repo, tag, manifest, read_back=False):
        from image_release.adapters.registry import PutResult

        self._op()
        with self.lock:
            self.blobs[manifest.digest] = manifest.raw
            self.tags[tag] = manifest.digest
        return PutResult(manifest.digest, True, manifest.digest, "answer")  # as a 201 answer proves it

    def tags_by_digest(self, repo):
        out: dict = {}
        for tag, digest in self.tags.items():
            out.setdefault(digest, []).append(tag)
        return out


class _Engine:
    def __init__(self, registry: _Registry, version: str):
        self.registry, self.version = registry, version

    def export_oci(self, image_id, layout, ref_name=None):
        """The image of this version as an OCI layout (a config blob and its manifest), as the engine writes it."""
        import json
        from pathlib import Path

        blobs = Path(layout) / "blobs" / "sha256"
        blobs.mkdir(parents=True)

        def put(raw: bytes) -> str:
            (blobs / hashlib.sha256(raw).hexdigest()).write_bytes(raw)
            return "sha256:" + hashlib.sha256(raw).hexdigest()

        config = f'{{"image": "{self.version}"}}'.encode()
        manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                          "digest": put(config), "size": len(config)}, "layers": []}).encode()
        digest = put(manifest)
        (Path(layout) / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": len(manifest)}]}))
        return digest, "linux/amd64"

    def tag(self, image_id, refs):  # local tags: nothing for the registry to see
        pass


class _Run:
    """What the publish step's actions read from a run, and nothing else."""

    def __init__(self, plan, settings, context, registry: _Registry, image: str):
        from image_release.core.image_ref import parse_image
        from image_release.pipeline.run import Results

        self.plan, self.settings, self.context = plan, settings, context
        self.dry_run = False
        self.results = Results(image_id="sha256:local", build_pushed=False)
        self.env: dict = {}
        self.registry_tags: dict = {}
        self.cache: dict = {}
        self._registry, self._image = registry, parse_image(image)
        self.lines: list[str] = []
        self._engine = _Engine(registry, str(plan.version))

    def registry_for(self, image):
        return self._image, self._registry

    def engine(self):
        return self._engine

    def retry_policy(self):
        from image_release.adapters.http_retry import RetryPolicy

        return RetryPolicy(attempts=1)

    def say(self, text=""):
        self.lines.append(text)

    warn = say


def _publish(run, image):
    """The publish step for one image: read, let core decide, apply (pipeline.steps.publishing)."""
    from image_release.pipeline.apply_image import release_layouts
    from image_release.pipeline.steps.publishing import publish_image

    try:
        publish_image(run, image)
    finally:
        release_layouts(run)


_NOW = datetime(2026, 1, 1, tzinfo=UTC)
_IMAGE = "127.0.0.1:5000/t/model"
_version_strs = st.sampled_from(["1.2.3", "1.2.4", "1.3.0", "1.3.1", "2.0.0", "0.9.0", "2.1.0-rc.1"])


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_version_strs, min_size=2, max_size=3, unique=True), st.data())
def test_property_concurrent_releases_end_with_floating_tags_on_their_owners(versions, data):
    from image_release.core.plan import (
        FLOATING,
        make_plan,
        owner_of_tag,
        version_tag_of,
    )
    from image_release.core.versions import parse_version

    st_settings = parse_settings({"images": [_IMAGE]})
    choices = data.draw(st.lists(st.integers(0, 2), min_size=200, max_size=200))
    it = iter(choices)
    sched = _Scheduler(lambda names: names[next(it, 0) % len(names)])
    registry = _Registry(sched)
    parsed = [parse_version(v) for v in versions]
    jobs, moved = {}, set()
    for v in parsed:
        others = [o for o in parsed if o != v]
        known = data.draw(st.lists(st.sampled_from(others), unique=True, max_size=len(others))) if others else []
        ctx = Context(event=TAG, ref=f"refs/tags/v{v}", tag=f"v{v}", sha="a" * 40, default_branch="main",
                      source="cli", timestamp=_NOW)
        plan = make_plan(ctx, st_settings, known_versions=known)
        moved |= {d.tag for d in plan.decisions if d.move and d.kind == FLOATING}
        run = _Run(plan, st_settings, ctx, registry, _IMAGE)
        jobs[str(v)] = (lambda r=run: _publish(r, _IMAGE))
    from unittest import mock

    import image_release.pipeline.apply_tags as apply_tags

    # The scheduler orders one thread per release: a release's extra tags are put one at a time here (in
    # the tool, up to PUT_WIDTH at once), each PUT still a point where another release may go first.
    with mock.patch.object(apply_tags, "PUT_WIDTH", 1):
        errors = sched.run(jobs)
    assert not errors, errors
    ctx = Context(event=TAG, ref="refs/tags/v0.0.1", tag="v0.0.1", sha="a" * 40, timestamp=_NOW)
    for tag in moved:
        owner = owner_of_tag(tag, parsed, st_settings, ctx)
        assert owner is not None
        want = registry.tags[version_tag_of(owner, st_settings, ctx)]
        assert registry.tags[tag] == want, (tag, str(owner), registry.tags)


def test_a_repair_made_from_a_stale_tag_list_is_checked_again():
    """An interleaving the property above found: 1.2.3's race check read the tag list before 1.3.1 had
    published, then "repaired" latest onto 1.3.0 after 1.3.1 had put it; 1.3.1 trusted its own put. A
    repair is now followed by another read (apply_tags.converge), so latest ends on 1.3.1."""
    from image_release.core.versions import parse_version

    class Replay:  # the draws hypothesis made, in order
        def __init__(self, draws):
            self.draws = list(draws)

        def draw(self, strategy):
            return self.draws.pop(0)

    schedule = [int(c) for c in "0000000001111100000011111111"] + [0] * 172
    test = test_property_concurrent_releases_end_with_floating_tags_on_their_owners.hypothesis.inner_test
    test(["1.2.3", "1.3.1", "1.3.0"], Replay([schedule, [], [], [parse_version("1.3.1")]]))
