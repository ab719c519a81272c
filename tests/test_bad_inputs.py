"""A corpus of bad inputs, each run through the real `invoke` command line in a temp git project.

Every case must end with a non-zero exit, an `error:` line naming the problem, a `hint:` with the fix,
no traceback, none of the values it lists as `absent` anywhere in the output, and nothing built (docker
image inspect), pushed (skopeo), or created on a forge. The configuration cases run through `image-release`
too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
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
    absent: tuple[str, ...] = ()  # values that must appear nowhere in the output (a token pasted into a setting)


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


def write(name: str, text: str | bytes) -> Callable[[Ctx], None]:
    """Write the project file ``name`` (after the settings commit: the error comes before any git check)."""
    def prepare(c: Ctx) -> None:
        path = c.proj.path / name
        path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)
    return prepare


def fifo(name: str) -> Callable[[Ctx], None]:
    return lambda c: os.mkfifo(c.proj.path / name)


def labels(n: int, value: str = "v", indent: str = "      ") -> str:
    return "".join(f"{indent}org.example.label{i}: {value}\n" for i in range(n))


def alias_bomb(levels: int = 9) -> str:
    """Billion laughs: each level is nine aliases of the one before (9**9 values once expanded)."""
    lines = ["      a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"]
    lines += [f"      a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, levels)]
    return "  build:\n    network: host\n    labels:\n" + "".join(lines)


def big_config(c: Ctx) -> None:
    """A 6 MB invoke.yaml with 60,000 labels."""
    path = c.proj.path / "invoke.yaml"
    path.write_text(path.read_text() + "  build:\n    network: host\n    labels:\n" + labels(60_000, "v" * 80))


def many_labels_json(c: Ctx) -> None:
    labels_ = {f"l{i}": "v" for i in range(60_000)}
    (c.proj.path / "labels.json").write_text(json.dumps({"release": {"build": {"labels": labels_}}}))


PASTED_GITHUB = "ghp_PASTEDintoSETTING0123456789abcdefXYZ0"
PASTED_GITLAB = "glpat-PASTEDintoSETTING-01234567"
PASTED_RANDOM = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
PASTED_NPM = "npm_PASTEDintoSETTING0123456789abcdefgh"


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
         yaml="  forge:\n    github:\n      token_env: 'ghp_not a name'\n", code=2, absent=("ghp_not a name",)),
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
    # -- issue 14/18: configuration files Invoke reads, INVOKE_RELEASE_* values it casts ---------------------
    Case("config-file-missing", ("missing.yaml", "does not exist", "-f"),
         args=("-f", "missing.yaml", "release", "--tag", "v1.2.3"), code=2),
    Case("config-file-fifo", ("fifo.yaml", "not a regular file"), prepare=fifo("fifo.yaml"),
         args=("-f", "fifo.yaml", "release", "--tag", "v1.2.3"), code=2),
    Case("config-file-unknown-type", ("settings.toml", ".yaml"), prepare=write("settings.toml", "x = 1\n"),
         args=("-f", "settings.toml", "release", "--tag", "v1.2.3"), code=2),
    Case("config-file-not-utf8", ("invoke.yaml", "utf-8"),
         prepare=write("invoke.yaml", b"release:\n  images: [\xff\xfe]\n"), code=2),
    Case("config-file-top-level-list", ("invoke.yaml", "mapping"), prepare=write("invoke.yaml", "- a\n- b\n"),
         code=2),
    Case("yaml-syntax", ("invoke.yaml:10:4", "expected ','"), yaml="  images: [a\n  x: : :\n", code=2),
    Case("yaml-unclosed-quote", ("invoke.yaml:", "quoted scalar"), yaml="  output_dir: \"dist\n", code=2),
    Case("yaml-tab", ("invoke.yaml:9:1", "tab"), yaml="\tdry_run: true\n", code=2),
    Case("yaml-tab-nested", ("invoke.yaml:10:3", "tab"), yaml="  retry:\n  \tattempts: 2\n", code=2),
    Case("yaml-syntax-runtime-file", ("extra.yaml:3:1", "expected"), prepare=write("extra.yaml", "release:\n  a: [\n"),
         args=("-f", "extra.yaml", "release", "--tag", "v1.2.3"), code=2),
    Case("yaml-alias-bomb", ("invoke.yaml", "aliases", "100000"), yaml=alias_bomb(), code=2),
    Case("yaml-alias-self", ("invoke.yaml", "alias"), yaml="  tags: &t [*t]\n", code=2),
    Case("json-syntax-runtime-file", ("extra.json:1:", "expecting"), prepare=write("extra.json", "{release: 1}"),
         args=("-f", "extra.json", "release", "--tag", "v1.2.3"), code=2),
    Case("env-timeout-word", ("INVOKE_RELEASE_REGISTRY_TIMEOUT", "'abc'", "whole number"),
         env={"INVOKE_RELEASE_REGISTRY_TIMEOUT": "abc"}, code=2),
    Case("env-attempts-1e999", ("INVOKE_RELEASE_RETRY_ATTEMPTS", "'1e999'", "whole number"),
         env={"INVOKE_RELEASE_RETRY_ATTEMPTS": "1e999"}, code=2),
    Case("env-delay-1e999", ("release.retry.base_delay", "finite"), env={"INVOKE_RELEASE_RETRY_BASE_DELAY": "1e999"},
         code=2),
    Case("env-delay-nan", ("release.retry.max_delay", "finite"), env={"INVOKE_RELEASE_RETRY_MAX_DELAY": "nan"},
         code=2),
    Case("env-list", ("INVOKE_RELEASE_IMAGES", "release.images", "list"), env={"INVOKE_RELEASE_IMAGES": "x/y"},
         code=2),
    Case("env-token-as-number", ("INVOKE_RELEASE_RETRY_ATTEMPTS", "whole number"),
         env={"INVOKE_RELEASE_RETRY_ATTEMPTS": PASTED_GITHUB}, code=2, absent=(PASTED_GITHUB,)),
    # -- non-finite numbers ---------------------------------------------------------------------------------
    Case("number-timeout-nan", ("release.registry.timeout", "finite"), yaml="  registry:\n    timeout: .nan\n",
         code=2),
    Case("number-timeout-inf", ("release.registry.timeout", "finite"), yaml="  registry:\n    timeout: .inf\n",
         code=2),
    Case("number-timeout-huge", ("release.registry.timeout", "finite"),
         yaml="  registry:\n    timeout: 1" + "0" * 400 + "\n", code=2),
    Case("number-delay-inf", ("release.retry.max_delay", "finite"), yaml="  retry:\n    max_delay: .inf\n", code=2),
    Case("number-delay-nan", ("release.retry.base_delay", "finite"), yaml="  retry:\n    base_delay: .NaN\n",
         code=2),
    # -- sizes: labels and build args ------------------------------------------------------------------------
    Case("config-file-6mb", ("invoke.yaml", "bytes", "1048576"), prepare=big_config, code=2),
    Case("labels-60000", ("release.build.labels", "60000", "1000"), prepare=many_labels_json,
         args=("-f", "labels.json", "release", "--tag", "v1.2.3"), code=2),
    Case("labels-1001", ("release.build.labels", "1001", "1000"),
         yaml="  build:\n    network: host\n    labels:\n" + labels(1001), code=2),
    Case("label-value-long", ("release.build.labels", "org.example.label0", "16384"),
         yaml="  build:\n    network: host\n    labels:\n" + labels(1, "x" * 20_000), code=2),
    Case("build-arg-name-long", ("release.build.args", "256"),
         yaml="  build:\n    network: host\n    args:\n      " + "A" * 300 + ": x\n", code=2),
    Case("build-args-total", ("release.build.labels and args", "262144"),
         yaml="  build:\n    network: host\n    args:\n"
              + "".join(f"      ARG{i}: {'x' * 10_000}\n" for i in range(30)), code=2),
    # -- a secret where a variable name belongs: never echoed ------------------------------------------------
    Case("env-name-github-token", ("release.forge.github.token_env", "github token", "not shown"),
         yaml="  forge:\n    github:\n      token_env: " + PASTED_GITHUB + "\n", code=2, absent=(PASTED_GITHUB,)),
    Case("env-name-gitlab-token", ("release.forge.gitlab.token_env", "gitlab token"),
         yaml="  forge:\n    gitlab:\n      token_env: " + PASTED_GITLAB + "\n", code=2, absent=(PASTED_GITLAB,)),
    Case("env-name-random-password", ("release.registry.password_env", "token"),
         yaml=f"  registry:\n    username_env: REG_USER\n    password_env: '{PASTED_RANDOM}'\n", code=2,
         absent=(PASTED_RANDOM, PASTED_RANDOM[:12])),
    Case("env-name-build-secret", ("release.build.secrets",),
         yaml=f"  build:\n    network: host\n    secrets: ['id=npm,env={PASTED_NPM}']\n", code=2,
         absent=(PASTED_NPM,)),
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
    check_refused(case, tmp_path, services, gh, request, lambda proj, env: proj.invoke(*case.args, env=env, check=False))


# The configuration cases again through the `image-release` console command (its own Program, which reads
# invoke.yaml itself): the same one-line errors.
CLI_CASES = [c for c in CASES if c.id.startswith(("config-file-", "yaml-", "json-", "env-timeout", "env-list",
                                                  "number-timeout-nan", "labels-60000", "env-name-github"))]


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.id for c in CLI_CASES])
def test_bad_configuration_through_image_release(case: Case, tmp_path: Path, services, gh, request):
    command = str(Path(sys.executable).parent / "image-release")

    def run(proj, env):
        return subprocess.run([command, *case.args], cwd=proj.path, env=env, capture_output=True, text=True,
                              timeout=300)

    check_refused(case, tmp_path, services, gh, request, run)


def check_refused(case: Case, tmp_path: Path, services, gh, request, run) -> None:
    """Set up ``case``'s project, run it (``run(proj, env)``) and check it is refused cleanly, nothing done."""
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

    out = run(proj, env)

    err = out.stderr
    assert out.returncode != 0, f"exit 0\n{out.stdout}\n{err}"
    if case.code is not None:
        assert out.returncode == case.code, err
    assert "Traceback" not in err + out.stdout and "internal error" not in err, err
    assert "error:" in err and "hint:" in err, err
    error_text = err[err.index("error:"):].lower()
    for phrase in case.want:
        assert _fill(phrase, values).lower() in error_text, f"{phrase!r} not in:\n{err}"
    for value in case.absent:
        assert value not in out.stdout + err, f"{value!r} is in the output:\n{out.stdout}\n{err}"
    # nothing built, pushed or created
    for ref in (f"{good_image}:1.2.3", f"{image.strip(chr(39))}:1.2.3"):
        inspect = subprocess.run(["/usr/bin/docker", "image", "inspect", ref], capture_output=True,
                                 env=clean_env())
        assert inspect.returncode != 0, f"{ref} was built"
    assert skopeo_tags(good_image) == []
    assert len(gh.releases) == releases_before


def _big_payload(path: Path) -> Path:
    with open(path, "wb") as f:
        f.truncate(9 * 1024 * 1024)  # over the 8 MiB bound (sparse: nothing is written)
    return path


PAYLOADS = {
    "dev-zero": lambda tmp: Path("/dev/zero"),
    "fifo": lambda tmp: (os.mkfifo(tmp / "event.fifo"), tmp / "event.fifo")[1],
    "directory": lambda tmp: tmp,
    "9-mib": lambda tmp: _big_payload(tmp / "event.json"),
}


@pytest.mark.parametrize("kind", list(PAYLOADS))
def test_an_event_payload_that_is_no_bounded_regular_file_is_a_warning_not_a_hang(kind, tmp_path, services):
    """GITHUB_EVENT_PATH pointing at /dev/zero or a FIFO hung the plan (an endless read, a blocking open):
    it is read bounded; anything but a regular file of at most 8 MiB is ignored with a warning."""
    proj = write_project(tmp_path / "app", f"{services.registry}/t/{uuid.uuid4().hex[:12]}")
    payload = PAYLOADS[kind](tmp_path)
    env = clean_env(GITHUB_ACTIONS="true", GITHUB_EVENT_NAME="push", GITHUB_REF="refs/tags/v1.2.3",
                    GITHUB_SHA=proj.head(), GITHUB_REPOSITORY="acme/app", GITHUB_EVENT_PATH=str(payload))
    out = subprocess.run([sys.executable, "-m", "invoke", "version", "--json"], cwd=proj.path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"warning: GITHUB_EVENT_PATH {payload}" in out.stderr and "ignored" in out.stderr, out.stderr
    assert json.loads(out.stdout[out.stdout.index("{"):])["version"] == "1.2.3"
