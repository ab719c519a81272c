"""Planted secrets never come out: known token values are put where a release reads them (GITHUB_TOKEN, a
registry password named in the settings, a BuildKit build secret, a well-known CI variable) and every output
is scanned for them: the CLI's stdout/stderr on success, in a dry run and on error paths, the GitHub Actions
output and summary files, a debug traceback, the argv of every docker/git subprocess (wrappers on PATH record
them), the built image (`docker save`: labels, layers, history) and the release notes (file and forge).

The signing key (cosign's encrypted PEM) and its password are planted too, with signing, an SBOM and provenance
on: they are looked for raw, URL-encoded and base64-encoded (and the key's PEM body line by line) in the same
places, and in what the release attached to the image (the ``.sig`` and ``.att`` objects and their blobs).

Every value is looked for in every form a server or a proxy echoes it in: raw, URL-encoded and base64 (of
the value, and of ``user:value`` as Basic auth carries it). The only place a raw value may appear is GitHub's
own masking command (``::add-mask::VALUE``), and only for a value the runner cannot know (one that does not
come from the environment, such as a password from the Docker config): the runner already masks the secrets
it handed in, and the command would put them on this process's stdout.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import urllib.parse
import uuid
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from image_release.adapters import keys
from tests.fakes.github_api import FakeGitHub
from tests.fixtures.registry_extra import PASSWORD, USER
from tests.fixtures.project import Project, clean_env, write_project

pytestmark = pytest.mark.services

GH_TOKEN = "ghp_PLANTEDgithubTOKEN0123456789abcdefXYZ"
BUILD_SECRET = "npm_PLANTEDbuildSECRET0123456789abcdef"
CI_SECRET = "PLANTED-ci-deploy-password-0123456789"
SIGNING_PASSWORD = "PLANTED-signing-key-password-0123"
SIGNING_KEY = keys.generate_key_pair(SIGNING_PASSWORD).private_pem.decode()  # cosign's encrypted format


def _forms(value: str) -> tuple[str, ...]:
    """A secret as it is, URL-encoded and base64-encoded."""
    return (value, urllib.parse.quote(value, safe=""), base64.b64encode(value.encode()).decode())


SECRETS = (GH_TOKEN, BUILD_SECRET, CI_SECRET, PASSWORD, base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(),
           *_forms(SIGNING_KEY), *_forms(SIGNING_PASSWORD),
           *[line for line in SIGNING_KEY.splitlines() if not line.startswith("-----") and len(line) >= 16])


def encoded_forms(value: str, users: tuple[str, ...] = ()) -> list[str]:
    """``value`` raw, URL-encoded (both quotes) and base64 (standard and URL-safe, with and without padding), and
    the base64 of ``user:value`` for each user."""
    forms = [value, quote(value, safe=""), quote(value), quote_plus(value)]
    for data in [value.encode()] + [f"{u}:{value}".encode() for u in users]:
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(data).decode()
            forms += [text, text.rstrip("=")]
    return list(dict.fromkeys(forms))


FORMS = tuple(dict.fromkeys(f for v in SECRETS for f in encoded_forms(v, (USER, "x-access-token"))))


def assert_clean(text: str | bytes, where: str) -> None:
    if isinstance(text, bytes):
        for value in FORMS:
            assert value.encode() not in text, f"a planted secret is in {where}"
        return
    lines = [ln for ln in text.splitlines() if not ln.startswith("::add-mask::")]
    body = "\n".join(lines)
    for value in FORMS:
        assert value not in body, f"a planted secret is in {where}:\n{body[-3000:]}"


def masked(stdout: str) -> list[str]:
    """The values registered with the runner's masking."""
    return [ln[len("::add-mask::"):] for ln in stdout.splitlines() if ln.startswith("::add-mask::")]


def docker_login(env: dict, tmp_path: Path, host: str) -> dict:
    """``env`` with the registry credentials in a Docker config (as `docker login` leaves them) instead of
    variables: a password the runner cannot know."""
    config = tmp_path / "docker-config"
    config.mkdir(exist_ok=True)
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    env = {k: v for k, v in env.items() if k not in ("REG_USER", "REG_PASSWORD")}
    return {**env, "DOCKER_CONFIG": str(config)}


def _wrappers(bindir: Path, log: Path) -> None:
    """`docker` and `git` on PATH that append their argv (one JSON list a line) to ``log``, then run the real one."""
    bindir.mkdir()
    for name, real in (("docker", "/usr/bin/docker"), ("git", "/usr/bin/git")):
        path = bindir / name
        path.write_text(
            "#!/usr/bin/python3\n"
            "import json, os, sys\n"
            f"with open({str(log)!r}, 'a') as f:\n"
            "    f.write(json.dumps(sys.argv) + '\\n')\n"
            f"os.execv({real!r}, [{real!r}] + sys.argv[1:])\n"
        )
        path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def world(tmp_path, services, basic_registry):
    with FakeGitHub() as gh:
        gh.add_token(GH_TOKEN, login="release-bot")
        gh.add_repo("acme/app")
        image = f"{basic_registry.host}/t/{uuid.uuid4().hex[:12]}"
        proj = write_project(tmp_path / "app", image, (
            "  notes:\n    assets: [digests]\n"
            "  registry:\n    username_env: REG_USER\n    password_env: REG_PASSWORD\n"
            "  build:\n    network: host\n    buildkit: 'on'\n    secrets: ['id=npm,env=NPM_TOKEN']\n"
            "  retry:\n    attempts: 2\n    base_delay: 0.01\n"
            "  sign:\n    key_env: COSIGN_KEY\n    password_env: COSIGN_PASSWORD\n"
            "  sbom: true\n  provenance: true\n"
        ))
        (proj.path / "Dockerfile").write_text(
            f"FROM {services.base_image}\n"
            "RUN --mount=type=secret,id=npm test -s /run/secrets/npm && echo built > /built.txt\n"
            "COPY payload.txt /payload.txt\n"
        )
        yaml = (proj.path / "invoke.yaml").read_text().replace("  forge:\n    type: none\n", "")
        (proj.path / "invoke.yaml").write_text(
            yaml + f"  forge:\n    type: github\n    github:\n      repository: acme/app\n      api_url: {gh.url}\n")
        proj.git("commit", "-qam", "chore: secrets")
        bindir, argv_log = tmp_path / "bin", tmp_path / "argv.log"
        _wrappers(bindir, argv_log)
        yield proj, gh, basic_registry, bindir, argv_log


def _env(proj: Project, tmp_path: Path, bindir: Path, **extra) -> dict:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"repository": {"default_branch": "main", "full_name": "acme/app"}}))
    values = dict(
        PATH=f"{bindir}:{os.environ['PATH']}",
        GITHUB_TOKEN=GH_TOKEN, REG_USER=USER, REG_PASSWORD=PASSWORD, NPM_TOKEN=BUILD_SECRET,
        CI_DEPLOY_PASSWORD=CI_SECRET, COSIGN_KEY=SIGNING_KEY, COSIGN_PASSWORD=SIGNING_PASSWORD,
        GITHUB_ACTIONS="true", GITHUB_EVENT_NAME="push", GITHUB_REF="refs/tags/v1.2.3", GITHUB_SHA=proj.head(),
        GITHUB_REPOSITORY="acme/app", GITHUB_EVENT_PATH=str(event),
        GITHUB_OUTPUT=str(tmp_path / "gh_output"), GITHUB_STEP_SUMMARY=str(tmp_path / "gh_summary"),
    )
    values.update(extra)
    return clean_env(**values)


def test_a_full_release_leaks_no_secret_anywhere(world, tmp_path):
    proj, gh, reg, bindir, argv_log = world
    proj.tag("v1.2.3")
    # the registry password comes from the Docker config: the one value here the runner cannot know
    env = docker_login(_env(proj, tmp_path, bindir), tmp_path, reg.host)
    out = proj.invoke("release", env=env, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert_clean(out.stdout, "stdout")
    assert_clean(out.stderr, "stderr")
    assert "::add-mask::" in out.stdout, "the values are registered with the runner's masking"
    assert PASSWORD in masked(out.stdout), "a password from the Docker config is masked"
    for value in (GH_TOKEN, BUILD_SECRET, CI_SECRET):  # the runner masks what it put in the environment itself
        assert not any(value in m for m in masked(out.stdout)), "a secret from the environment in ::add-mask::"
    for name in ("gh_output", "gh_summary"):
        text = (tmp_path / name).read_text()
        assert text.strip()
        assert_clean(text, name)
    # every file of the project after the run (dist/ and whatever else the run wrote)
    for path in (p for p in proj.path.rglob("*") if p.is_file() and ".git" not in p.relative_to(proj.path).parts):
        assert_clean(path.read_bytes(), f"the file {path.relative_to(proj.path)}")
    # the subprocesses' argv: build secret by name only, credentials never
    argv = argv_log.read_text()
    assert "docker" in argv and "id=npm,env=NPM_TOKEN" in argv
    assert_clean(argv, "the argv of docker/git subprocesses")
    # the image: the build used the secret (the RUN checked it was there) but holds none of it
    ref = f"{proj.image}:1.2.3"
    saved = subprocess.run(["/usr/bin/docker", "save", ref], capture_output=True, env=clean_env())
    assert saved.returncode == 0 and saved.stdout
    assert_clean(saved.stdout, "the saved image (layers, config, labels)")
    for cmd in (["image", "inspect", ref], ["history", "--no-trunc", ref]):
        shown = subprocess.run(["/usr/bin/docker", *cmd], capture_output=True, text=True, env=clean_env())
        assert_clean(shown.stdout, f"docker {' '.join(cmd)}")
    repo = proj.image.split("/", 1)[1]
    assert "1.2.3" in reg.skopeo_tags(repo)
    # what was attached to the image: the signature and attestation objects, every blob they reference
    attached = [t for t in reg.skopeo_tags(repo) if t.endswith((".sig", ".att"))]
    assert len(attached) == 2
    for tag in attached:
        raw = _registry_get(reg, f"/v2/{repo}/manifests/{tag}", "application/vnd.oci.image.manifest.v1+json")
        assert_clean(raw, f"the manifest of {tag}")
        doc = json.loads(raw)
        for desc in [doc["config"], *doc["layers"]]:
            blob = _registry_get(reg, f"/v2/{repo}/blobs/{desc['digest']}")
            assert_clean(blob, f"a blob of {tag}")
            if desc.get("mediaType") == "application/vnd.dsse.envelope.v1+json":
                assert_clean(base64.b64decode(json.loads(blob)["payload"]), f"an attested statement of {tag}")
    # the forge release: body and assets
    (rel,) = gh.releases_for("acme/app", "v1.2.3")
    assert_clean(rel["body"] or "", "the release body")
    for name, data in gh.asset_files(rel["id"]).items():
        assert_clean(data, f"release asset {name}")


def _registry_get(reg, path: str, accept: str | None = None) -> bytes:
    """GET from the basic-auth test registry with plain HTTP (not this tool's client)."""
    import urllib.request

    headers = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
    if accept:
        headers["Accept"] = accept
    with urllib.request.urlopen(urllib.request.Request(f"http://{reg.host}{path}", headers=headers), timeout=30) as r:
        return r.read()


def test_the_dry_run_plan_and_notes_leak_nothing(world, tmp_path):
    proj, _gh, _reg, bindir, argv_log = world
    env = _env(proj, tmp_path, bindir)
    out = proj.invoke("release", "--tag", "v1.2.3", "--dry-run", env=env, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "dry run" in out.stdout and "release notes" in out.stdout
    assert_clean(out.stdout + out.stderr, "the dry-run output")
    out = proj.invoke("version", "--tag", "v1.2.3", "--json", env=env, check=False)
    assert_clean(out.stdout + out.stderr, "version --json")
    if argv_log.exists():
        assert_clean(argv_log.read_text(), "argv")


def test_error_paths_leak_nothing(world, tmp_path):
    proj, gh, _reg, bindir, _argv_log = world
    # a wrong registry password: the error names the user, never the password
    wrong = "wrong-PLANTED-password-0123456789"
    env = _env(proj, tmp_path, bindir, REG_PASSWORD=wrong)
    out = proj.invoke("release", "--tag", "v1.2.3", env=env, check=False)
    assert out.returncode == 1 and "error:" in out.stderr and USER in out.stderr
    assert wrong not in out.stdout.replace(f"::add-mask::{wrong}", "") + out.stderr
    assert_clean(out.stdout + out.stderr, "a registry auth error")
    # the forge failing for good after the images are out
    gh.fail("POST", r"/repos/acme/app/releases$", 500, times=100)
    env = _env(proj, tmp_path, bindir)
    out = proj.invoke("release", "--tag", "v1.2.3", env=env, check=False)
    assert out.returncode == 1 and "already published" in out.stderr, out.stderr
    assert_clean(out.stdout + out.stderr, "a forge error")


def test_a_debug_traceback_is_redacted(world, tmp_path):
    """A bug whose exception text carries a token (as a library's might): the one-line error and the
    IMAGE_RELEASE_DEBUG=1 traceback both go through the redactor."""
    proj, _gh, _reg, bindir, _argv_log = world
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import os\n"
        "import image_release.pipeline.steps.planning as planning\n"
        "def broken(self, run):\n"
        "    raise RuntimeError('request failed with Authorization: token ' + os.environ['GITHUB_TOKEN']\n"
        "                       + ' and ' + os.environ['CI_DEPLOY_PASSWORD'])\n"
        "planning.PlanStep.run = broken\n"
    )
    pythonpath = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])
    for debug in ("0", "1"):
        env = _env(proj, tmp_path, bindir, IMAGE_RELEASE_DEBUG=debug, PYTHONPATH=pythonpath)
        out = proj.invoke("version", "--tag", "v1.2.3", env=env, check=False)
        assert out.returncode == 70, out.stdout + out.stderr
        assert "internal error" in out.stderr and "***" in out.stderr
        assert ("Traceback" in out.stderr) is (debug == "1")
        assert_clean(out.stdout + out.stderr, f"the internal error (IMAGE_RELEASE_DEBUG={debug})")


def test_the_notes_file_leaks_nothing(tmp_path, services, registry_repo):
    proj = write_project(tmp_path / "app", registry_repo, "")
    env = clean_env(GITHUB_TOKEN=GH_TOKEN, CI_DEPLOY_PASSWORD=CI_SECRET, DOCKER_PASSWORD=CI_SECRET + "x")
    out = proj.invoke("release", "--tag", "v1.0.0", env=env, check=False)
    assert out.returncode == 0, out.stderr
    notes = proj.path / "dist" / "release-notes-1.0.0.md"
    assert_clean(notes.read_text(), "the notes file")
    assert_clean(out.stdout + out.stderr, "the output")


# -- issue 14: encoded echoes, ::add-mask::, Invoke's debug log, secret-looking build args ----------------

def test_a_forge_echoing_the_token_encoded_leaks_no_form_of_it(world, tmp_path):
    """A forge (or a proxy before it) that echoes the token back URL-encoded and inside Basic headers."""
    proj, gh, _reg, bindir, _argv_log = world
    echo = (f"bad credentials: token={quote(GH_TOKEN, safe='')} q={quote_plus(GH_TOKEN)} "
            f"basic={base64.b64encode(f'x-access-token:{GH_TOKEN}'.encode()).decode()} "
            f"other={base64.urlsafe_b64encode(f'robot-7:{GH_TOKEN}'.encode()).decode().rstrip('=')} "
            f"raw64={base64.b64encode(GH_TOKEN.encode()).decode()}")
    gh.fail("GET", r"^/repos/acme/app$", 401, times=100, body={"message": echo})
    env = _env(proj, tmp_path, bindir)
    out = proj.invoke("release", "--tag", "v1.2.3", env=env, check=False)
    assert out.returncode == 1 and "bad credentials" in out.stderr, out.stdout + out.stderr
    assert "***" in out.stderr
    assert_clean(out.stdout + out.stderr, "a forge error echoing the token")
    for form in encoded_forms(GH_TOKEN, ("robot-7",)):
        assert form not in out.stderr


class EchoRegistry:
    """A registry that asks for Basic auth and then denies, echoing the Authorization header it got and the
    password URL-encoded in its error message (as a misconfigured proxy in front of a registry can)."""

    def __init__(self):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        import threading

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                auth = self.headers.get("Authorization")
                if not auth:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="echo"')
                    body = b'{"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}'
                else:
                    self.send_response(403)
                    body = json.dumps({"errors": [{"code": "DENIED", "message": (
                        f"denied: you sent {auth}; password={quote(PASSWORD, safe='')}&p={quote_plus(PASSWORD)}; "
                        f"b64url={base64.urlsafe_b64encode(PASSWORD.encode()).decode().rstrip('=')}")}]}).encode()
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_HEAD = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_registry_echoing_the_credentials_encoded_leaks_no_form_of_them(tmp_path, services):
    reg = EchoRegistry()
    try:
        proj = write_project(tmp_path / "app", f"{reg.host}/t/app", (
            "  registry:\n    username_env: REG_USER\n    password_env: REG_PASSWORD\n"
            "  retry:\n    attempts: 1\n"))
        env = clean_env(REG_USER=USER, REG_PASSWORD=PASSWORD)
        out = proj.invoke("release", "--tag", "v1.2.3", env=env, check=False)
    finally:
        reg.stop()
    text = out.stdout + out.stderr
    assert out.returncode == 1 and "error:" in out.stderr, text
    assert "you sent Basic ***" in text and "password=***" in text, text
    assert_clean(out.stdout + out.stderr, "a registry error echoing the credentials")
    for form in encoded_forms(PASSWORD, (USER,)):
        assert form not in out.stdout + out.stderr


def test_secrets_from_the_environment_are_never_printed_for_masking(world, tmp_path):
    """On GitHub Actions the runner masks the secrets it put in the environment: printing `::add-mask::` for
    them would only put the raw value on stdout (where tee, log files and artifacts keep it)."""
    proj, _gh, _reg, bindir, _argv_log = world
    env = _env(proj, tmp_path, bindir, EXTRA_API_TOKEN="extra-PLANTED-token-0123456789")
    out = proj.invoke("release", "--tag", "v1.2.3", "--dry-run", env=env, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    for value in SECRETS + ("extra-PLANTED-token-0123456789",):
        assert value not in out.stdout, "a secret from the environment is on stdout"
    assert masked(out.stdout) == []


BUILD_ARG_TOKEN = "ghp_PLANTEDbuildARGtoken0123456789abcdefXYZ"  # a token's shape, in no secret variable
BUILD_ARG_KNOWN = "PLANTED-known-secret-value-0123"  # the value of a secret variable


def test_invoke_debug_log_and_build_args_that_look_secret(tmp_path, services, registry_repo):
    """`invoke -d` prints Invoke's own log (the INVOKE_* values and every config level) before any run exists:
    it is redacted. A build arg that looks like a secret is warned about before the build, pointing to
    build.secrets, and its value is shown nowhere."""
    proj = write_project(tmp_path / "app", registry_repo, (
        "  build:\n    network: host\n    args:\n      NPM_AUTH: placeholder\n      GREETING: hello\n"
        "      ACCESS_KEY: AKIAIOSFODNN7EXAMPLE\n"))
    env = clean_env(INVOKE_RELEASE_BUILD_ARGS_NPM_AUTH=BUILD_ARG_TOKEN,
                    INVOKE_RELEASE_BUILD_ARGS_GREETING=BUILD_ARG_KNOWN, DEPLOY_TOKEN=BUILD_ARG_KNOWN)
    out = proj.invoke("-d", "build", env=env, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout + out.stderr
    assert "invoke.env.load" in out.stderr, "Invoke's debug log is on"
    for value in (BUILD_ARG_TOKEN, BUILD_ARG_KNOWN, "AKIAIOSFODNN7EXAMPLE"):
        for form in encoded_forms(value):
            assert form not in text, f"{value} in the output of invoke -d build"
    for name, kind in (("NPM_AUTH", "a GitHub token"), ("GREETING", "the value of a secret variable"),
                       ("ACCESS_KEY", "an AWS access key id")):
        warning = f"warning: build arg {name} looks like a secret ({kind})"
        assert warning in out.stderr, out.stderr
        assert "release.build.secrets" in out.stderr.split(warning, 1)[1].splitlines()[0]
    # before the build: the warnings come ahead of the engine's first line (BuildKit "#1 ...", classic "Step 1/")
    lines = out.stderr.splitlines()
    first_build_line = next(i for i, ln in enumerate(lines) if ln.startswith(("#1 ", "Step 1/")))
    assert all(i < first_build_line for i, ln in enumerate(lines) if ln.startswith("warning: build arg"))
