"""Settings: declared once (``DEFAULTS``, Invoke config under the ``release`` key), parsed once into
a typed, validated :class:`Settings`.

Precedence is Invoke's own: these defaults, ``invoke.yaml`` beside the tasks, ``INVOKE_RELEASE_*``
environment variables (scalars only, e.g. ``INVOKE_RELEASE_DRY_RUN=1``), ``-f`` files, then flags.
Secrets never come from config files: settings only *name* the environment variables that hold them.
This module is pure: it reads the mapping it is given, nothing else.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from image_release.core.build_spec import BuildSecret
from image_release.core.default_rules import DEFAULT_FLAVOR, DEFAULT_TAG_RULES
from image_release.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover - imported when plan_settings is called
    from image_release.core.plan_inputs import PlanSettings

KEY = "release"

DEFAULTS: dict[str, Any] = {
    "tag": None,  # set by --tag, or INVOKE_RELEASE_TAG
    "dry_run": False,  # --dry-run, INVOKE_RELEASE_DRY_RUN=1, or invoke --dry
    "images": [],  # default: ghcr.io/<owner>/<repo> on GitHub Actions, $CI_REGISTRY_IMAGE on GitLab CI
    "tags": list(DEFAULT_TAG_RULES),  # docker/metadata-action `tags:` lines
    "flavor": list(DEFAULT_FLAVOR),  # docker/metadata-action `flavor:` lines
    "major_zero": False,  # publish the major tag `0` for 0.y.z versions
    "semantics": "safe",  # safe (floating-tag guard, SemVer tags) | metadata-action (its exact outputs)
    "allow_dirty": False,  # build a release from a working tree with uncommitted changes to tracked files
    "output_dir": "dist",
    "project": {
        "title": None,  # default: the repository name
        "description": None,
        "url": None,
        "source": None,  # default: the repository URL from the CI or git remote
        "licenses": None,
        "vendor": None,
    },
    "build": {
        "context": ".",
        "dockerfile": "Dockerfile",
        "args": {},
        "target": None,
        "labels": {},
        "platforms": [],
        "cache_from": [],
        "cache_to": [],
        "secrets": [],  # "id=npmrc,env=NPM_TOKEN" or "id=key,src=path"
        "buildkit": "auto",  # auto | on | off
        "builder": None,  # a named buildx builder (remote BuildKit workers)
        "network": None,  # "host" where dockerd runs with --bridge=none
        "pull": False,
        "dev_tag": "{branch}-{short_sha}",  # the tag of `invoke build` outside a release
    },
    "publish": {  # which contexts push to the registry
        "tag": True,
        "branch": True,
        "pr": False,
        "schedule": True,
    },
    "known_versions": {  # where the floating-tag guard learns the versions that exist
        "git": True,
        "remote": True,  # `git ls-remote --tags origin` (CI clones are shallow)
        "registry": True,
    },
    "registry": {
        "username_env": None,  # names of env vars holding registry credentials
        "password_env": None,
        "timeout": 30,
        "verify": True,  # read every published tag back and check its digest (one HEAD per tag)
    },
    "retry": {"attempts": 5, "base_delay": 0.5, "max_delay": 30.0},
    "clean": {
        "keep": None,  # `invoke clean` keeps this many newest versions (None: required on the command line)
        "keep_prereleases": None,  # prereleases are counted apart; None: same as keep
        "keep_patterns": [],  # regexes of tags never deleted
        "fail_on_refused": False,  # a registry that refuses deletion: warning (False) or failure (True)
    },
    "forge": {
        "type": "auto",  # auto | github | gitlab | none
        "github": {"repository": None, "api_url": None, "token_env": "GITHUB_TOKEN"},
        "gitlab": {"url": None, "project": None, "token_env": "GITLAB_TOKEN", "job_token_env": "CI_JOB_TOKEN"},
        "preflight": True,
    },
    "notes": {
        "template": None,  # a Jinja2 file replacing the default layout
        "file": None,  # default: <output_dir>/release-notes-<version>.md
        "name": "Release {version}",
        "run": {"ports": [], "env": []},
        "requirements": [],
        "assets": [],  # "digests": attach a file listing every ref and digest
        "replace_assets": False,
        "deepen": True,  # deepen a shallow clone for the changelog
    },
    "sign": {  # sign every published image in cosign's format (sha256-<hex>.sig beside it)
        "key_env": None,  # the variable holding the private key (cosign.key or a PKCS#8 PEM); set: signing is on
        "password_env": None,  # the variable holding its password
        "mode": "key",  # key: this tool signs, offline | cosign: a cosign binary on PATH signs (keyless with OIDC)
    },
    "sbom": False,  # true, or {format: cyclonedx|spdx}: syft's SBOM, a signed attestation and a release asset
    "provenance": False,  # a signed SLSA provenance v1 attestation
    "targets": {},  # monorepos: name -> {images, build, tags, notes, tag_prefix, paths, ...} (target_settings.py)
}

_BUILDKIT = ("auto", "on", "off")
_FORGES = ("auto", "github", "gitlab", "none")
_SEMANTICS = ("safe", "metadata-action")
_SIGN_MODES = ("key", "cosign")
_SBOM_FORMATS = ("cyclonedx", "spdx")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class BuildSettings:
    context: str
    dockerfile: str
    args: tuple[tuple[str, str], ...]
    target: str | None
    labels: tuple[tuple[str, str], ...]
    platforms: tuple[str, ...]
    cache_from: tuple[str, ...]
    cache_to: tuple[str, ...]
    secrets: tuple[BuildSecret, ...]
    buildkit: str
    builder: str | None
    network: str | None
    pull: bool
    dev_tag: str


@dataclass(frozen=True)
class CleanSettings:
    keep: int | None
    keep_prereleases: int | None
    keep_patterns: tuple[str, ...]
    fail_on_refused: bool


@dataclass(frozen=True)
class ForgeSettings:
    type: str
    github_repository: str | None
    github_api_url: str | None
    github_token_env: str
    gitlab_url: str | None
    gitlab_project: str | None
    gitlab_token_env: str
    gitlab_job_token_env: str
    preflight: bool


@dataclass(frozen=True)
class NotesSettings:
    template: str | None
    file: str | None
    name: str
    run_ports: tuple[str, ...]
    run_env: tuple[str, ...]
    requirements: tuple[str, ...]
    assets: tuple[str, ...]
    replace_assets: bool
    deepen: bool


@dataclass(frozen=True)
class SignSettings:
    key_env: str | None = None
    password_env: str | None = None
    mode: str = "key"

    @property
    def enabled(self) -> bool:
        """Signing is on with a key (``key_env``) or when cosign signs (keyless without a key)."""
        return self.mode == "cosign" or bool(self.key_env)


@dataclass(frozen=True)
class Settings:
    tag: str | None
    dry_run: bool
    images: tuple[str, ...]
    tags: tuple[str, ...]
    flavor: tuple[str, ...]
    major_zero: bool
    output_dir: str
    project: Mapping[str, str | None]
    build: BuildSettings
    publish: Mapping[str, bool]
    known_versions: Mapping[str, bool]
    registry_username_env: str | None
    registry_password_env: str | None
    registry_timeout: float
    registry_verify: bool
    retry_attempts: int
    retry_base_delay: float
    retry_max_delay: float
    clean: CleanSettings
    forge: ForgeSettings
    notes: NotesSettings
    allow_dirty: bool = False
    semantics: str = "safe"
    sign: SignSettings = SignSettings()
    sbom: str | None = None  # the SBOM format (cyclonedx, spdx), None: no SBOM
    provenance: bool = False


# Settings that take either a scalar or a mapping (``sbom: true`` or ``sbom: {format: spdx}``). Invoke refuses to
# merge a mapping onto a declared scalar and the reverse, so these are not declared to Invoke (no
# INVOKE_RELEASE_* variable for them); parse_settings still knows their defaults.
UNDECLARED = ("sbom",)


def defaults() -> dict[str, Any]:
    """A fresh copy of the defaults declared to Invoke (for ``Collection.configure``)."""
    return {k: copy.deepcopy(v) for k, v in DEFAULTS.items() if k not in UNDECLARED}


def merged(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """The defaults overlaid with ``raw`` (works when a project composed the collection without
    declaring the defaults on its root namespace)."""
    out = copy.deepcopy(DEFAULTS)
    _overlay(out, dict(raw or {}), KEY)
    return out


def _overlay(base: dict, raw: Mapping, path: str) -> None:
    for key, value in raw.items():
        if key not in base:
            raise ConfigError(
                f"unknown setting {path}.{key}",
                hint=f"known settings under {path}: {', '.join(sorted(base))} (see docs/configuration.md)",
            )
        if isinstance(base[key], dict) and base[key] and not _is_free_dict(path, key):
            if not isinstance(value, Mapping):
                raise ConfigError(
                    f"{path}.{key} must be a mapping, not {type(value).__name__}",
                    hint=f"write it as `{key}:` followed by indented keys ({', '.join(sorted(base[key]))})",
                )
            _overlay(base[key], value, f"{path}.{key}")
        else:
            base[key] = value


def _is_free_dict(path: str, key: str) -> bool:
    # Mappings whose keys are the user's own (build args, labels).
    return (path, key) in {("release.build", "args"), ("release.build", "labels")}


def parse_settings(raw: Mapping[str, Any] | None) -> Settings:
    """Validate the ``release`` config mapping into :class:`Settings` (ConfigError on any problem)."""
    d = merged(_plain(raw))
    p = _Path()
    reg, r = d["registry"], d["retry"]
    user_env, pass_env = _registry_envs(p, reg)
    tag = _tag(p, d)
    return Settings(
        tag=tag,
        dry_run=p.boolean(d, "dry_run"),
        images=_image_entries(p.str_list(d, "images")),
        tags=p.str_list(d, "tags", allow_empty_items=False),
        flavor=p.str_list(d, "flavor"),
        major_zero=p.boolean(d, "major_zero"),
        semantics=p.choice(d, "semantics", _SEMANTICS),
        allow_dirty=p.boolean(d, "allow_dirty"),
        output_dir=p.string(d, "output_dir"),
        project={k: p.opt_string(d["project"], f"project.{k}") for k in d["project"]},
        build=_build(p, d["build"]),
        publish={k: p.boolean(d["publish"], f"publish.{k}") for k in d["publish"]},
        known_versions={k: p.boolean(d["known_versions"], f"known_versions.{k}") for k in d["known_versions"]},
        registry_username_env=user_env,
        registry_password_env=pass_env,
        registry_timeout=p.number(reg, "registry.timeout", minimum=1),
        registry_verify=p.boolean(reg, "registry.verify"),
        retry_attempts=p.int_(r, "retry.attempts", minimum=1),
        retry_base_delay=p.number(r, "retry.base_delay", minimum=0),
        retry_max_delay=p.number(r, "retry.max_delay", minimum=0),
        clean=_clean(p, d["clean"]),
        forge=_forge(p, d["forge"]),
        notes=_notes(p, d["notes"]),
        **_signing(p, d),
    )


def _tag(p: "_Path", d: Mapping) -> str | None:
    """release.tag: unset (None) means "from CI or git"; set but blank is an error, not a branch build."""
    if isinstance(d["tag"], str) and not d["tag"].strip():
        raise ConfigError("release.tag is empty (INVOKE_RELEASE_TAG is set to nothing?)",
                          hint="set it to the version tag, e.g. v1.2.3, or unset it to release from CI or git")
    tag = p.opt_string(d, "tag")
    return tag.strip() if tag else None


def _build(p: "_Path", b: Mapping) -> BuildSettings:
    return BuildSettings(
        context=p.string(b, "build.context"),
        dockerfile=p.string(b, "build.dockerfile"),
        args=p.str_map(b, "build.args"),
        target=p.opt_string(b, "build.target"),
        labels=p.str_map(b, "build.labels"),
        platforms=p.str_list(b, "build.platforms"),
        cache_from=p.str_list(b, "build.cache_from"),
        cache_to=p.str_list(b, "build.cache_to"),
        secrets=tuple(_parse_secret(s) for s in p.str_list(b, "build.secrets")),
        buildkit=p.choice(b, "build.buildkit", _BUILDKIT),
        builder=p.opt_string(b, "build.builder"),
        network=p.opt_string(b, "build.network"),
        pull=p.boolean(b, "build.pull"),
        dev_tag=p.string(b, "build.dev_tag"),
    )


def _clean(p: "_Path", c: Mapping) -> CleanSettings:
    return CleanSettings(
        keep=p.opt_int(c, "clean.keep", minimum=1),
        keep_prereleases=p.opt_int(c, "clean.keep_prereleases", minimum=0),
        keep_patterns=tuple(_regex(x, "clean.keep_patterns") for x in p.str_list(c, "clean.keep_patterns")),
        fail_on_refused=p.boolean(c, "clean.fail_on_refused"),
    )


def _forge(p: "_Path", f: Mapping) -> ForgeSettings:
    return ForgeSettings(
        type=p.choice(f, "forge.type", _FORGES),
        github_repository=p.opt_string(f["github"], "forge.github.repository"),
        github_api_url=p.opt_string(f["github"], "forge.github.api_url"),
        github_token_env=p.env_name(f["github"], "forge.github.token_env"),
        gitlab_url=p.opt_string(f["gitlab"], "forge.gitlab.url"),
        gitlab_project=p.opt_string(f["gitlab"], "forge.gitlab.project"),
        gitlab_token_env=p.env_name(f["gitlab"], "forge.gitlab.token_env"),
        gitlab_job_token_env=p.env_name(f["gitlab"], "forge.gitlab.job_token_env"),
        preflight=p.boolean(f, "forge.preflight"),
    )


def _notes(p: "_Path", n: Mapping) -> NotesSettings:
    run = n["run"]
    if not isinstance(run, Mapping):
        raise ConfigError("release.notes.run must be a mapping", hint="ports: [...], env: [...]")
    return NotesSettings(
        template=p.opt_string(n, "notes.template"),
        file=p.opt_string(n, "notes.file"),
        name=p.string(n, "notes.name"),
        run_ports=p.str_list(run, "notes.run.ports"),
        run_env=tuple(_env_var_name(x, "notes.run.env") for x in p.str_list(run, "notes.run.env")),
        requirements=p.str_list(n, "notes.requirements"),
        assets=tuple(_asset(x) for x in p.str_list(n, "notes.assets")),
        replace_assets=p.boolean(n, "notes.replace_assets"),
        deepen=p.boolean(n, "notes.deepen"),
    )


def _signing(p: "_Path", d: Mapping) -> dict[str, Any]:
    """release.sign, release.sbom and release.provenance; attestations are signed, so they need signing on."""
    sg = d["sign"]
    sign = SignSettings(key_env=p.opt_env_name(sg, "sign.key_env"), password_env=p.opt_env_name(sg, "sign.password_env"),
                        mode=p.choice(sg, "sign.mode", _SIGN_MODES))
    sbom = _sbom(p, d)
    provenance = p.boolean(d, "provenance")
    if (sbom or provenance) and not sign.enabled:
        what = "release.sbom" if sbom else "release.provenance"
        raise ConfigError(f"{what} makes a signed attestation, but signing is off",
                          hint="name the variable holding the signing key in release.sign.key_env (or set "
                          "release.sign.mode: cosign), or turn it off")
    return {"sign": sign, "sbom": sbom, "provenance": provenance}


def _sbom(p: "_Path", d: Mapping) -> str | None:
    v = d["sbom"]
    if not isinstance(v, Mapping):
        return _SBOM_FORMATS[0] if p.boolean(d, "sbom") else None
    unknown = sorted(set(v) - {"format"})
    if unknown:
        raise ConfigError(f"unknown setting release.sbom.{unknown[0]}", hint="release.sbom takes true, or {format: cyclonedx}")
    fmt = str(v.get("format") or _SBOM_FORMATS[0]).lower().removesuffix("-json")
    if fmt not in _SBOM_FORMATS:
        raise ConfigError(f"release.sbom.format must be one of {', '.join(_SBOM_FORMATS)}, not {v.get('format')!r}",
                          hint="for example: sbom: {format: cyclonedx} (both are JSON)")
    return fmt


def _registry_envs(p: "_Path", reg: Mapping) -> tuple[str | None, str | None]:
    user_env = p.opt_env_name(reg, "registry.username_env")
    pass_env = p.opt_env_name(reg, "registry.password_env")
    if bool(user_env) != bool(pass_env):
        raise ConfigError(
            "release.registry.username_env and password_env go together",
            hint="name both environment variables, or neither",
        )
    return user_env, pass_env


def _plain(raw: Any) -> dict:
    """Invoke's DataProxy -> plain dicts (recursively)."""
    if raw is None:
        return {}
    if hasattr(raw, "_config") and not isinstance(raw, dict):
        raw = dict(raw.items())
    if isinstance(raw, Mapping):
        return {k: _plain(v) if _is_mapping_like(v) else v for k, v in raw.items()}
    raise ConfigError(f"the `{KEY}` config must be a mapping, not {type(raw).__name__}",
                      hint=f"write `{KEY}:` followed by indented settings in invoke.yaml")


def _is_mapping_like(v: Any) -> bool:
    return isinstance(v, Mapping) or (hasattr(v, "_config") and hasattr(v, "items"))


class _Path:
    """Typed readers that name the setting and the expected type in their errors."""

    @staticmethod
    def _err(path: str, want: str, got: Any, example: str) -> ConfigError:
        return ConfigError(
            f"release.{path} must be {want}, not {type(got).__name__} ({got!r})",
            hint=f"for example: {example} (environment: INVOKE_RELEASE_{path.upper().replace('.', '_')})",
        )

    def string(self, d, path, allow_empty=False) -> str:
        v = d[path.split(".")[-1]]
        if not isinstance(v, str) or (not allow_empty and not v.strip()):
            raise self._err(path, "a non-empty string", v, f"{path.split('.')[-1]}: value")
        return v

    def opt_string(self, d, path) -> str | None:
        v = d[path.split(".")[-1]]
        if v is None or v == "":
            return None
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return str(v)
        if not isinstance(v, str):
            raise self._err(path, "a string", v, f"{path.split('.')[-1]}: value")
        return v

    def boolean(self, d, path) -> bool:
        v = d[path.split(".")[-1]]
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off", ""):
            return v.lower() in ("1", "true", "yes", "on")
        raise self._err(path, "true or false", v, f"{path.split('.')[-1]}: true")

    def int_(self, d, path, minimum=None) -> int:
        v = d[path.split(".")[-1]]
        if isinstance(v, str) and re.fullmatch(r"-?\d+", v.strip()):
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int):
            raise self._err(path, "a whole number", v, f"{path.split('.')[-1]}: 10")
        if minimum is not None and v < minimum:
            raise ConfigError(f"release.{path} must be at least {minimum}, not {v}", hint=f"set it to {minimum} or more")
        return v

    def opt_int(self, d, path, minimum=None) -> int | None:
        if d[path.split(".")[-1]] is None:
            return None
        return self.int_(d, path, minimum)

    def number(self, d, path, minimum=None) -> float:
        v = d[path.split(".")[-1]]
        if isinstance(v, str):
            try:
                v = float(v)
            except ValueError:
                pass
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self._err(path, "a number", v, f"{path.split('.')[-1]}: 30")
        if minimum is not None and v < minimum:
            raise ConfigError(f"release.{path} must be at least {minimum}, not {v}", hint=f"set it to {minimum} or more")
        return float(v)

    def choice(self, d, path, options) -> str:
        v = d[path.split(".")[-1]]
        if isinstance(v, bool):  # YAML turns on/off into booleans
            v = "on" if v else "off"
        if v not in options:
            raise ConfigError(
                f"release.{path} must be one of {', '.join(options)}, not {v!r}",
                hint=f"for example: {path.split('.')[-1]}: {options[0]}",
            )
        return v

    def str_list(self, d, path, allow_empty_items=True) -> tuple[str, ...]:
        v = d[path.split(".")[-1]]
        if isinstance(v, str):  # a YAML block scalar, as in a workflow's `tags: |`
            v = [line for line in v.splitlines() if line.strip()]
        if not isinstance(v, (list, tuple)):
            raise self._err(path, "a list of strings", v, f"{path.split('.')[-1]}: [a, b]")
        out = []
        for i, item in enumerate(v):
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                item = str(item)
            if not isinstance(item, str) or (not allow_empty_items and not item.strip()):
                raise ConfigError(
                    f"release.{path}[{i}] must be a non-empty string, not {item!r}",
                    hint="write each entry as a string on its own line",
                )
            out.append(item)
        return tuple(out)

    def str_map(self, d, path) -> tuple[tuple[str, str], ...]:
        v = d[path.split(".")[-1]]
        if not isinstance(v, Mapping):
            raise self._err(path, "a mapping of names to strings", v, f"{path.split('.')[-1]}: {{NAME: value}}")
        out = []
        for k, val in v.items():
            if not isinstance(k, str) or not k:
                raise ConfigError(f"release.{path} has a key {k!r} that is not a name", hint="use string keys")
            if isinstance(val, bool) or not isinstance(val, (str, int, float)):
                raise ConfigError(f"release.{path}.{k} must be a string, not {type(val).__name__}",
                                  hint=f'quote it: {k}: "value"')
            out.append((k, str(val)))
        return tuple(out)

    def env_name(self, d, path) -> str:
        v = self.string(d, path)
        return _env_var_name(v, path)

    def opt_env_name(self, d, path) -> str | None:
        v = self.opt_string(d, path)
        return _env_var_name(v, path) if v else None


def _env_var_name(v: str, path: str) -> str:
    if not _ENV_NAME.match(v):
        raise ConfigError(
            f"release.{path}: {v!r} is not an environment variable name",
            hint="settings name the variable that holds a value (e.g. MY_TOKEN); never put a secret in a config file",
        )
    return v


def _regex(v: str, path: str) -> str:
    try:
        re.compile(v)
    except re.error as e:
        raise ConfigError(f"release.{path}: {v!r} is not a valid regular expression ({e})",
                          hint="escape special characters, e.g. ^stable-.*$") from None
    return v


def _parse_secret(text: str) -> BuildSecret:
    parts = dict(p.split("=", 1) for p in text.split(",") if "=" in p)
    sid = parts.get("id")
    env, src = parts.get("env"), parts.get("src")
    if not sid or bool(env) == bool(src) or set(parts) - {"id", "env", "src"}:
        raise ConfigError(
            f"release.build.secrets: {text!r} is not a secret reference",
            hint="write id=NAME,env=ENV_VAR or id=NAME,src=FILE (the value itself never goes in config)",
        )
    if env:
        _env_var_name(env, "build.secrets")
    return BuildSecret(id=sid, env=env, src=src)


def _image_entries(entries: tuple[str, ...]) -> tuple[str, ...]:
    """``release.images`` as written, once checked: names or ``name=...,enable=...`` entries."""
    from image_release.core.images import parse_images

    parse_images(entries)
    return entries


def _asset(v: str) -> str:
    if v not in ("digests",) and not v.startswith("file:"):
        raise ConfigError(f"release.notes.assets: unknown asset {v!r}",
                          hint="use `digests` (a file of every ref and digest) or `file:PATH`")
    return v


def plan_settings(settings: Settings) -> "PlanSettings":
    """The part of ``settings`` the planner reads, as a :class:`image_release.core.plan_inputs.PlanSettings`."""
    from image_release.core.plan_inputs import BuildInputs, PlanSettings

    b = settings.build
    return PlanSettings(
        tags=settings.tags,
        flavor=settings.flavor,
        images=settings.images,
        major_zero=settings.major_zero,
        publish=settings.publish,
        project=settings.project,
        semantics=settings.semantics,
        build=BuildInputs(
            context=b.context, dockerfile=b.dockerfile, args=b.args, target=b.target, labels=b.labels,
            platforms=b.platforms, cache_from=b.cache_from, cache_to=b.cache_to, secrets=b.secrets,
            buildkit=b.buildkit, builder=b.builder, network=b.network, pull=b.pull, dev_tag=b.dev_tag,
        ),
    )
