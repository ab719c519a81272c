"""A corpus of bad inputs, each run through the real `invoke` command line in a temp git project.

Every case must end with a non-zero exit, an `error:` line naming the problem, a `hint:` with the fix,
no traceback, and nothing built (docker image inspect), pushed (skopeo), or created on a forge.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fakes.github_api import FakeGitHub
from tests.fixtures.registry_extra import free_port
from tests.fixtures.services import skopeo_tags
from tests.fixtures.project import Project, clean_env, write_project

pytestmark = pytest.mark.services

GH_TOKEN = "ghp_badinputs0123456789abcdefABCDEF012"
READ_TOKEN = "ghp_readonly0123456789abcdefABCDEF0123"


def closed_port() -> int:
    return free_port()  # bound, read, released: nothing listens there


@dataclass
class Case:
    id: str
    want: tuple[str, ...]  # phrases the error must contain (case-insensitive)
    yaml: str | None = ""  # appended under `release:` (a later key replaces the base's); None: `release: [1, 2]`
    args: tuple[str, ...] = ("release", "--tag", "v1.2.3")
    env: dict = field(default_factory=dict)
    prepare: Callable[[Ctx], None] | None = None
    code: int | None = None  # exact exit code when it matters
    image: str | None = None  # a bad image name replacing the project's


@dataclass
class Ctx:
    proj: Project
    image: str
    gh: FakeGitHub
    services: object


def _yaml(text: str) -> Callable[[Ctx], None]:
    return lambda c: None


def rm_dockerfile(c: Ctx) -> None:
    c.proj.git("rm", "-q", "Dockerfile")
    c.proj.git("commit", "-qm", "chore: no Dockerfile")


def dirty(c: Ctx) -> None:
    (c.proj.path / "payload.txt").write_text("uncommitted\n")


def tag_elsewhere(c: Ctx) -> None:
    c.proj.tag("v1.2.3")
    c.proj.content("after the tag")


def outside_git(c: Ctx) -> None:
    import shutil

    shutil.rmtree(c.proj.path / ".git")


def github(extra: str = "") -> str:
    return ("  forge:\n    type: github\n    github:\n      repository: acme/app\n      api_url: {gh}\n" + extra)


CASES = [
    # -- malformed tags ------------------------------------------------------------------------------
    Case("tag-two-numbers", ("v1.2", "semver"), args=("release", "--tag", "v1.2"), code=2),
    Case("tag-four-numbers", ("1.2.3.4", "semver"), args=("release", "--tag", "1.2.3.4"), code=2),
    Case("tag-uppercase-v", ("V1.2.3", "lowercase"), args=("release", "--tag", "V1.2.3"), code=2),
    Case("tag-leading-zero", ("v01.2.3", "leading zero"), args=("release", "--tag", "v01.2.3"), code=2),
    Case("tag-whitespace", ("whitespace",), args=("release", "--tag", "v1.2.3 x"), code=2),
    Case("tag-words", ("release-1", "semver"), args=("release", "--tag", "release-1"), code=2),
    Case("tag-empty-prerelease", ("v1.2.3-", "semver"), args=("release", "--tag", "v1.2.3-"), code=2),
    Case("tag-empty-build", ("v1.2.3+", "semver"), args=("release", "--tag", "v1.2.3+"), code=2),
    Case("tag-letters", ("vx.y.z", "semver"), args=("release", "--tag", "vx.y.z"), code=2),
    Case("tag-double-dot", ("v1..3", "semver"), args=("release", "--tag", "v1..3"), code=2),
    Case("tag-v-only", ("'v'", "semver"), args=("push", "--tag", "v"), code=2),
    # -- invalid image names and registry hosts ------------------------------------------------------
    Case("image-uppercase", ("UPPER",), image="127.0.0.1:5000/t/UPPER", code=2),
    Case("image-with-tag", ("127.0.0.1:5000/t/app:1.0", "tag"), image="127.0.0.1:5000/t/app:1.0", code=2),
    Case("image-with-digest", ("@sha256", "digest"), image="127.0.0.1:5000/t/app@sha256:" + "a" * 64, code=2),
    Case("image-bad-port", ("99999",), image="127.0.0.1:99999/t/app"),
    Case("image-empty-path-component", ("t//app",), image="127.0.0.1:5000/t//app"),
    Case("image-url-scheme", ("http://",), image="http://127.0.0.1:5000/t/app"),
    Case("image-host-leading-dash", ("-bad",), image="-bad.example:5000/app"),
    Case("image-space", ("with space",), image="'127.0.0.1:5000/t/with space'"),
    Case("images-not-a-list", ("release.images",), yaml="  images: {a: 1}\n", code=2),
    Case("images-empty-item", ("invalid image name",), yaml="  images: ['']\n"),
    # -- unknown or malformed tag rules and templates -----------------------------------------------------
    Case("rule-unknown-type", ("nonsense",), yaml="  tags: ['type=nonsense,value=x']\n", code=2),
    Case("rule-semver-without-pattern", ("pattern",), yaml="  tags: ['type=semver']\n", code=2),
    Case("rule-unclosed-template", ("{{version",), yaml="  tags: ['type=semver,pattern={{version']\n", code=2),
    Case("rule-unknown-template-field", ("unknown",), yaml="  tags: ['type=raw,value={{unknown}}']\n", code=2),
    Case("rule-sha-bad-format", ("format",), yaml="  tags: ['type=sha,format=weird']\n", code=2),
    Case("rule-bad-enable", ("enable",), yaml="  tags: ['type=semver,pattern={{version}},enable=maybe']\n",
         code=2),
    Case("rule-bad-priority", ("priority",), yaml="  tags: ['type=semver,pattern={{version}},priority=high']\n",
         code=2),
    Case("rule-bad-regex", ("pattern",), yaml="  tags: ['type=match,pattern=(,group=1']\n", code=2),
    Case("rule-empty-line", ("release.tags",), yaml="  tags: ['type=semver,pattern={{version}}', '']\n", code=2),
    Case("flavor-bad-latest", ("latest",), yaml="  flavor: ['latest=sometimes']\n", code=2),
    Case("flavor-unknown-key", ("colour",), yaml="  flavor: ['colour=blue']\n", code=2),
    Case("dev-tag-unknown-field", ("nope",), yaml="  build:\n    network: host\n    dev_tag: '{nope}'\n",
         args=("build",)),
    Case("notes-file-unknown-field", ("nope",), yaml="  notes:\n    file: 'notes-{nope}.md'\n", code=2),
    Case("notes-name-unknown-field", ("nope",), yaml="  notes:\n    name: 'Release {nope}'\n", code=2),
    Case("notes-template-missing", ("no-such-template.j2",), yaml="  notes:\n    template: no-such-template.j2\n"),
    # -- bad config types, every kind of setting ------------------------------------------------------------
    Case("bool-dry-run", ("release.dry_run", "true or false"), yaml="  dry_run: maybe\n", code=2),
    Case("bool-major-zero", ("release.major_zero",), yaml="  major_zero: 3\n", code=2),
    Case("mapping-build", ("release.build", "mapping"), yaml="  build: fast\n", code=2),
    Case("mapping-build-args", ("release.build.args",), yaml="  build:\n    args: [a, b]\n", code=2),
    Case("choice-buildkit", ("release.build.buildkit",), yaml="  build:\n    buildkit: sometimes\n", code=2),
    Case("list-platforms", ("release.build.platforms",), yaml="  build:\n    platforms: {a: 1}\n", code=2),
    Case("number-timeout-word", ("release.registry.timeout",), yaml="  registry:\n    timeout: soon\n", code=2),
    Case("number-timeout-zero", ("release.registry.timeout",), yaml="  registry:\n    timeout: 0\n", code=2),
    Case("int-attempts-zero", ("release.retry.attempts",), yaml="  retry:\n    attempts: 0\n", code=2),
    Case("int-attempts-word", ("release.retry.attempts",), yaml="  retry:\n    attempts: many\n", code=2),
    Case("number-negative-delay", ("release.retry.base_delay",), yaml="  retry:\n    base_delay: -1\n", code=2),
    Case("unknown-retry-key", ("release.retry.jitter",), yaml="  retry:\n    jitter: true\n", code=2),
    Case("unknown-setting", ("release.imagez",), yaml="  imagez: []\n", code=2),
    Case("choice-forge", ("release.forge.type",), yaml="  forge:\n    type: bitbucket\n", code=2),
    Case("env-name-token", ("release.forge.github.token_env",),
         yaml="  forge:\n    github:\n      token_env: 'ghp_not a name'\n", code=2),
    Case("registry-user-without-password", ("username_env",), yaml="  registry:\n    username_env: REG_USER\n",
         code=2),
    Case("secret-reference", ("release.build.secrets",), yaml="  build:\n    secrets: ['id=x']\n", code=2),
    Case("bool-publish", ("release.publish.tag",), yaml="  publish:\n    tag: sometimes\n", code=2),
    Case("mapping-known-versions", ("release.known_versions",), yaml="  known_versions: []\n", code=2),
    Case("notes-asset", ("zip",), yaml="  notes:\n    assets: [zip]\n", code=2),
    Case("keep-pattern-regex", ("release.clean.keep_patterns",), yaml="  clean:\n    keep_patterns: ['(']\n",
         code=2),
    Case("keep-word", ("release.clean.keep",), yaml="  clean:\n    keep: all\n", args=("clean",), code=2),
    Case("keep-flag", ("--keep",), args=("clean", "--keep", "ten"), code=2),
    Case("project-not-mapping", ("release.project",), yaml="  project: acme\n", code=2),
    Case("release-not-mapping", ("`release` config must be a mapping",), yaml=None, code=2),
    Case("output-dir-empty", ("release.output_dir",), yaml="  output_dir: ''\n", code=2),
    Case("env-override-tag", ("v1.2", "semver"), args=("push",), env={"INVOKE_RELEASE_TAG": "v1.2"}, code=2),
    # -- a missing Dockerfile or context --------------------------------------------------------------------
    Case("no-dockerfile", ("no dockerfile",), prepare=rm_dockerfile),
    Case("no-context", ("build context",), yaml="  build:\n    network: host\n    context: nope\n"),
    Case("dockerfile-elsewhere", ("docker/Nope",), yaml="  build:\n    network: host\n    dockerfile: docker/Nope\n"),
    Case("build-secret-unset", ("NPM_TOKEN",),
         yaml="  build:\n    network: host\n    secrets: ['id=npm,env=NPM_TOKEN']\n"),
    # -- missing or wrong tokens ----------------------------------------------------------------------------
    Case("github-no-token", ("GITHUB_TOKEN",), yaml=github()),
    Case("github-wrong-token", ("GITHUB_TOKEN",), yaml=github(), env={"GITHUB_TOKEN": "ghp_wrong0123456789abcdefABCDEF"}),
    Case("github-read-only-token", ("write",), yaml=github(), env={"GITHUB_TOKEN": READ_TOKEN}),
    Case("github-unknown-repo", ("acme/nope",), yaml=github().replace("acme/app", "acme/nope"),
         env={"GITHUB_TOKEN": GH_TOKEN}),
    Case("github-bad-repo-form", ("owner/name",), yaml=github().replace("acme/app", "just-a-name"),
         env={"GITHUB_TOKEN": GH_TOKEN}),
    Case("gitlab-no-token", ("GITLAB_TOKEN",),
         yaml="  forge:\n    type: gitlab\n    gitlab:\n      url: http://127.0.0.1:{closed}\n      project: acme/app\n"),
    Case("registry-wrong-password", ("refused", "alice"), image="{basic}/t/app",
         yaml="  registry:\n    username_env: REG_USER\n    password_env: REG_PASSWORD\n",
         env={"REG_USER": "alice", "REG_PASSWORD": "wrong-Pa55-word"}),
    Case("registry-password-unset", ("REG_PASSWORD",), image="{basic}/t/app",
         yaml="  registry:\n    username_env: REG_USER\n    password_env: REG_PASSWORD\n",
         env={"REG_USER": "alice"}),
    Case("registry-no-credentials", ("{basic}",), image="{basic}/t/app"),
    # -- an unreachable engine or registry ------------------------------------------------------------------
    Case("engine-socket-missing", ("docker",), env={"DOCKER_HOST": "unix:///tmp/no-such-docker.sock"}),
    Case("engine-closed-port", ("docker",), env={"DOCKER_HOST": "tcp://127.0.0.1:{closed}"}),
    Case("registry-closed-port", ("127.0.0.1:{closed}",), image="127.0.0.1:{closed}/t/app",
         yaml="  retry:\n    attempts: 2\n    base_delay: 0.01\n"),
    Case("registry-not-a-registry", ("not an oci distribution registry",), image="{gh_host}/t/app",
         yaml="  retry:\n    attempts: 1\n"),
    # -- the repository's state -----------------------------------------------------------------------------
    Case("dirty-tree", ("uncommitted", "allow_dirty"), prepare=dirty),
    Case("tag-not-on-head", ("v1.2.3", "head"), prepare=tag_elsewhere),
    Case("no-git-no-tag", ("tag",), args=("push",), prepare=outside_git),
]


@pytest.fixture(scope="module")
def gh():
    with FakeGitHub() as fake:
        fake.add_token(GH_TOKEN, login="release-bot")
        fake.add_token(READ_TOKEN, login="reader", contents="read")
        fake.add_repo("acme/app")
        yield fake


def _fill(text: str, values: dict) -> str:
    for k, v in values.items():
        text = text.replace("{" + k + "}", v)
    return text


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path, services, gh, request):
    values = {"closed": str(closed_port()), "gh": gh.url, "gh_host": gh.url.split("//", 1)[1]}
    if "{basic}" in (case.image or "") + "".join(case.want):
        values["basic"] = request.getfixturevalue("basic_registry").host
    repo = f"t/{uuid.uuid4().hex[:12]}"
    good_image = f"{services.registry}/{repo}"
    image = _fill(case.image, values) if case.image else good_image
    proj = write_project(tmp_path / "app", image.strip("'"), "")
    base = (proj.path / "invoke.yaml").read_text()
    if case.image:
        base = base.replace(image.strip("'"), image)
    (proj.path / "invoke.yaml").write_text(base + _fill(case.yaml, values) if case.yaml is not None
                                           else "release: [1, 2]\n")
    proj.git("commit", "-q", "--allow-empty", "-am", "chore: settings")
    if case.prepare:
        case.prepare(Ctx(proj, image, gh, services))
    env = clean_env(**{k: _fill(v, values) for k, v in case.env.items()})
    releases_before = len(gh.releases)

    out = proj.invoke(*case.args, env=env, check=False)

    err = out.stderr
    assert out.returncode != 0, f"exit 0\n{out.stdout}\n{err}"
    if case.code is not None:
        assert out.returncode == case.code, err
    assert "Traceback" not in err + out.stdout and "internal error" not in err, err
    assert "error:" in err and "hint:" in err, err
    error_text = err[err.index("error:"):].lower()
    for phrase in case.want:
        assert _fill(phrase, values).lower() in error_text, f"{phrase!r} not in:\n{err}"
    # nothing built, pushed or created
    for ref in (f"{good_image}:1.2.3", f"{image.strip(chr(39))}:1.2.3"):
        inspect = subprocess.run(["/usr/bin/docker", "image", "inspect", ref], capture_output=True,
                                 env=clean_env())
        assert inspect.returncode != 0, f"{ref} was built"
    assert skopeo_tags(good_image) == []
    assert len(gh.releases) == releases_before
