"""The steps of the chain, as GoReleaser has them: each one plans from the session's plan, then
either prints what it would do (dry run) or does it through the adapters.

plan -> build -> tag -> publish (version tag, floating tags, read-back, race repair, replacement)
-> release (forge or notes file). Retention (``clean``) stands apart.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from image_release.core.plan import FLOATING, explain, versions_in_registry
from image_release.errors import BuildError, ConfigError, PublishError, ReleaseError

CHAIN = ("build", "tag", "push", "release")


def _once(name: str):
    """Run a step once per session, however many tasks of the chain ask for it."""

    def decorate(fn):
        @functools.wraps(fn)
        def run(s, *args, **kwargs):
            if name in s.done:
                return None
            s.done.add(name)
            return fn(s, *args, **kwargs)

        return run

    return decorate


# -- plan -----------------------------------------------------------------------------------
@_once("version")
def plan_step(s, *, as_json: bool = False) -> None:
    if any(t in s.called for t in CHAIN) and not s.dry_run:
        s.warm_engine()  # overlaps the engine's start-up with the plan's reads
    plan = s.plan
    if as_json:
        s.say(json.dumps(plan.to_dict(), indent=2))
        for w in plan.warnings:  # the text plan shows its warnings itself
            s.warn(w)
    else:
        with s.group("release plan"):
            s.say(explain(plan))
            if s.dry_run:
                s.say("dry run: reads are real; nothing will be built, pushed, deleted or created")
    s.reporter.set_outputs({
        "version": str(plan.version) if plan.version else "",
        "tags": "\n".join(plan.refs()),
    })
    # Bad input stops here, before anything is built or pushed.
    if any(step in s.called for step in CHAIN):
        check_build_inputs(s)
    if "release" in s.called and plan.release:
        check_release_inputs(s)
    if plan.push and not s.dry_run and any(step in s.called for step in ("push", "release")):
        preflight_registries(s)
    if "release" in s.called and plan.release and not s.dry_run and s.settings.forge.preflight:
        preflight_forge(s)


def check_build_inputs(s) -> None:
    b = s.settings.build
    context, dockerfile = _build_paths(s)
    if not context.is_dir():
        raise BuildError(f"build context {context} is not a directory",
                         hint="set release.build.context to the folder holding your sources (default: .)")
    if not dockerfile.is_file():
        raise BuildError(f"no Dockerfile at {dockerfile}",
                         hint="create it, or set release.build.dockerfile (relative to the build context)")
    _check_clean_tree(s)
    _check_images_and_tag(s)
    for secret in b.secrets:
        if secret.env and not s.env.get(secret.env):
            raise BuildError(f"build secret {secret.id!r}: environment variable {secret.env} is not set",
                             hint=f"export {secret.env} before the build (its value never goes into the image)")


def check_release_inputs(s) -> None:
    """The notes settings the release step will use, checked before anything is built."""
    import string

    n = s.settings.notes
    for key, value in (("notes.name", n.name), ("notes.file", n.file)):
        if not value:
            continue
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
        except ValueError as e:
            raise ConfigError(f"release.{key} {value!r} is not a valid template ({e})",
                              hint="use {version} and {tag} as placeholders; double a literal brace: {{ }}") from None
        unknown = sorted(fields - {"version", "tag"})
        if unknown:
            raise ConfigError(f"release.{key} {value!r} uses unknown placeholder(s) {', '.join(unknown)}",
                              hint="the placeholders are {version} and {tag}")
    if n.template and not s.path(n.template).is_file():
        raise ConfigError(f"the release notes template {s.path(n.template)} does not exist",
                          hint="fix release.notes.template (a path relative to the project), or remove it")


def _check_images_and_tag(s) -> None:
    """Image names carry no tag or digest (the rules make the tags), and a release tag that exists in git
    points at the commit being built."""
    from image_release.core.image_ref import parse_image

    for image in s.plan.images:
        name = parse_image(image)
        if name.tag or name.digest:
            raise ConfigError(f"release.images: {image} names a {'tag' if name.tag else 'digest'}",
                              hint="give the image name without :tag or @digest; release.tags makes the tags")
    tag, sha = s.context.tag, s.context.sha
    if s.plan.version is None or not tag or not sha:
        return
    from image_release.adapters.git_repo import tag_commit

    commit = tag_commit(s.root, tag)
    if commit and not sha.startswith(commit) and not commit.startswith(sha):
        from image_release.errors import GitError

        raise GitError(f"tag {tag} points at {commit[:12]}, but HEAD (what would be built) is {sha[:12]}",
                       hint=f"check out the tag first (`git checkout {tag}`), or release a new tag for this commit")


def _check_clean_tree(s) -> None:
    """A release is built from its tag's commit: uncommitted changes to tracked files would go into the
    image without being in the tag. An error (a warning in a dry run) unless release.allow_dirty."""
    if s.plan.version is None or s.settings.allow_dirty:
        return
    from image_release.adapters.git_repo import is_dirty

    if not is_dirty(s.root):
        return
    message = (f"the working tree {s.root} has uncommitted changes to tracked files: the image of "
               f"{s.context.tag} would not match its commit")
    hint = ("commit or stash them (`git status` lists them), or set release.allow_dirty: true "
            "(INVOKE_RELEASE_ALLOW_DIRTY=1) to release anyway")
    if s.dry_run:
        s.warn(f"{message} ({hint})")
        return
    from image_release.errors import GitError

    raise GitError(message, hint=hint)


def preflight_registries(s) -> None:
    """Every registry answers, and takes the credentials we have, before anything is built."""
    for image in s.plan.images:
        name, client = s.registry_for(image)
        scheme = client.ping()
        if client.credentials is None and scheme in ("basic", "bearer"):
            from image_release.errors import AuthError

            raise AuthError(
                f"registry {name.registry} asks for credentials ({scheme}) and none were found to push {image}",
                hint=f"`docker login {name.registry}` (with --password-stdin), or name the variables holding them "
                "in release.registry.username_env and password_env",
            )


def preflight_forge(s) -> None:
    from image_release.pipeline.forges import client_for, forge_target

    target = forge_target(s)
    if target.kind == "none":
        return
    client = client_for(s, target)
    client.preflight()
    s.say(f"preflight: the token can create releases on {target.describe()}")


# -- build ----------------------------------------------------------------------------------
@_once("build")
def build_step(s) -> None:
    plan = s.plan
    spec = _resolved_spec(s)
    if s.dry_run:
        s.say(f"dry run: would build {', '.join(spec.tags)} from {spec.context} ({spec.dockerfile})")
        return
    with s.group(f"build {', '.join(spec.tags)}"):
        result = s.engine().build(spec)
    s.results.image_id = result.image_id
    s.results.built_refs = result.tags
    if result.pushed and result.digest:  # a multi-platform BuildKit build pushes as it builds
        s.results.digest = result.digest
        s.results.build_pushed = True
    if not plan.push:
        s.say(f"nothing is pushed: {plan.push_reason}")


def _build_paths(s) -> tuple[Path, Path]:
    """The build context (relative to the project) and the Dockerfile (relative to the context)."""
    b = s.settings.build
    context = s.path(b.context)
    dockerfile = Path(b.dockerfile)
    return context, dockerfile if dockerfile.is_absolute() else context / dockerfile


def _resolved_spec(s):
    from dataclasses import replace

    context, dockerfile = _build_paths(s)
    return replace(s.plan.build, context=str(context), dockerfile=str(dockerfile))


# -- tag ------------------------------------------------------------------------------------
@_once("tag")
def tag_step(s) -> None:
    plan = s.plan
    refs = [r for r in plan.refs() if r not in s.results.built_refs]
    if not refs:
        return
    if "tag" not in s.called and plan.push and any(t in s.called for t in ("push", "release")):
        return  # on its way to the registry: push adds these tags there as manifests
    if s.dry_run:
        s.say(f"dry run: would tag the image locally as {', '.join(refs)}")
        return
    _require_image(s)
    s.engine().tag(s.results.image_id, refs)
    s.say(f"tagged locally: {', '.join(refs)}")


def _once_published(s, error: ReleaseError, message: str, then: str) -> ReleaseError:
    """``error`` itself while nothing is published; after that, a PublishError that lists what is out
    and says how to finish (``then``), keeping the original hint first."""
    if not s.results.published or isinstance(error, PublishError):
        return error
    hint = (f"{error.hint}; then " if error.hint else "") + then
    return PublishError(message, hint=hint, published=tuple(s.results.published))


def _require_image(s) -> None:
    if not s.results.image_id:
        raise BuildError("no image was built in this run", hint="run `invoke build` (it runs before tag and push)")


# -- publish --------------------------------------------------------------------------------
@_once("push")
def publish_step(s) -> None:
    plan = s.plan
    if not plan.push:
        s.say(f"push: skipped ({plan.push_reason})")
        return
    for image in plan.images:
        with s.group(f"publish {image}"):
            try:
                _publish_image(s, image)
            except ReleaseError as e:  # a read or write after the version tag: say what is already out
                raise _once_published(
                    s, e, f"publishing {image} stopped: {e.message}",
                    "re-run the same command: it converges (tags already published stay as they are)",
                ) from None
    s.reporter.set_outputs({"digest": s.results.digest or "", "tags": "\n".join(s.results.published)})


def _publish_image(s, image: str) -> None:
    from image_release.core.retention import plan_replacement

    plan = s.plan
    name, client = s.registry_for(image)
    repo = name.repository
    primary = plan.primary_tag
    others = [t for t in plan.tags if t != primary]
    before = client.head_manifest(repo, primary)  # read before publishing: is this a re-release?
    if s.dry_run:
        s.say(f"dry run: would push {image}:{primary} once, then add {', '.join(others) or 'no other tags'} "
              "as manifests (no blob re-upload)")
        if before is not None:
            s.say(f"dry run: {image}:{primary} exists ({before.digest}); after publishing, that old image "
                  "would be deleted if no tag still points at it")
        return

    # 1. The version tag, pushed once, verified in the registry.
    ref = f"{image}:{primary}"
    if s.results.build_pushed and s.results.digest:
        digest = s.results.digest
    else:
        _require_image(s)
        from image_release.adapters.registry_auth import docker_auth_config

        if ref not in s.results.built_refs:  # a branch build's first tag is not its local dev tag
            s.engine().tag(s.results.image_id, [ref])

        digest = _push_with_retry(s, ref, docker_auth_config(client.credentials))
    published = s.results.published  # grows as each tag lands, so a failure can list what is out
    landed = client.head_manifest(repo, primary)
    if landed is None or landed.digest != digest:
        raise PublishError(
            f"{ref} does not resolve to the pushed digest {digest} (registry says "
            f"{landed.digest if landed else 'no such tag'})",
            hint="another run may be publishing the same version; re-run the same command",
        )
    published.append(ref)
    s.say(f"pushed {ref}, read back from the registry: {digest}")

    # 2. Every other tag: the same manifest put under the new name.
    manifest = client.get_manifest(repo, digest)
    for tag in others:
        try:
            client.put_manifest(repo, tag, manifest)
        except ReleaseError as e:
            raise PublishError(
                f"could not tag {image}:{tag}: {e.message}",
                hint="re-run the same command: it converges (tags already published stay as they are)",
                published=tuple(published),
            ) from None
        published.append(f"{image}:{tag}")
        s.say(f"tagged {image}:{tag} -> {digest[:19]}")

    # 3. Read every other tag back (the version tag was read back above): one HEAD per tag.
    seen = {primary: digest}  # what each tag resolves to now, as far as we know
    if s.settings.registry_verify:
        for tag in others:
            info = client.head_manifest(repo, tag)
            seen[tag] = info.digest if info else None
            if seen[tag] != digest and plan.moved[tag].kind != FLOATING:
                raise PublishError(
                    f"{image}:{tag} resolves to {seen[tag] or 'nothing'}, not {digest}",
                    hint="re-run the same command to converge",
                    published=tuple(published),
                )
            # A floating tag a concurrent release moved since our put is step 4's business.
    s.results.digest = digest

    # 4. A concurrent release may have moved a floating tag after us: repair towards the highest.
    _repair_floating(s, client, repo, image, digest, seen)

    # 5. Same-version replacement: the old image goes only when nothing points at it any more.
    if before is not None and before.digest != digest:
        rp = plan_replacement(primary, before.digest, digest, client.tags_by_digest(repo))
        from image_release.adapters.cleanup import replace_old_digest

        report = replace_old_digest(_deleter(s, image), rp, dry_run=False,
                                    fail_on_refused=s.settings.clean.fail_on_refused)
        for line in report.lines():
            s.say(f"replace {image}:{primary}: {line}")


def _push_with_retry(s, ref: str, auth) -> str:
    """The engine's push of the version tag, retried like the registry client's calls when the registry
    failed transiently (5xx, 408, 429, connection trouble). Any failure says that nothing of this image
    was published (floating tags are only put after this push) and how to finish."""
    import time

    from image_release.adapters.http_retry import RETRY_STATUSES, RetryPolicy
    from image_release.errors import RegistryError, RegistryUnreachable

    st = s.settings
    policy = RetryPolicy(attempts=st.retry_attempts, base_delay=st.retry_base_delay, max_delay=st.retry_max_delay)
    attempt = 0
    while True:
        attempt += 1
        try:
            return s.engine().push(ref, auth)
        except ReleaseError as e:
            transient = isinstance(e, RegistryUnreachable) or (
                isinstance(e, RegistryError) and e.status in RETRY_STATUSES)
            if transient and attempt < policy.attempts:
                wait = policy.backoff(attempt)
                s.warn(f"retry push {ref}: {e.message}; attempt {attempt + 1}/{policy.attempts} in {wait:.2f}s")
                time.sleep(wait)
                continue
            tries = f" (after {attempt} attempts)" if attempt > 1 else ""
            raise PublishError(
                f"{e.message}{tries}; {ref} was not published and no floating tag was touched",
                hint=(f"{e.hint}; then " if e.hint else "") + "re-run the same command",
                published=tuple(s.results.published),
            ) from None


def _deleter(s, image):
    """The deleter for ``image``: GHCR and GitLab through their APIs, any other registry through the
    session's OCI client (same credentials, retries and request counts)."""
    from image_release.adapters.cleanup import OciDeleter, deleter_from_settings

    name, client = s.registry_for(image)
    deleter = deleter_from_settings(image, s.settings, s.env, credentials=client.credentials,
                                    gitlab_registry_host=s.context.registry)
    if isinstance(deleter, OciDeleter):
        return OciDeleter(client, name.repository)
    return deleter


def _floating_owner(s, tag: str, versions):
    """The highest stable version that the rules give ``tag`` to (None: none of them)."""
    from image_release.core.plan import owner_of_tag

    return owner_of_tag(tag, versions, s.settings, s.context)


def _repair_floating(s, client, repo, image, digest: str, seen: dict) -> None:
    """Put every floating tag on the highest stable version that owns it, reading the tag list once.

    ``seen`` holds what the read-back found (a tag missing from it resolves to ``digest``, which
    our put just wrote). Only a tag owned by a higher version costs more requests."""
    plan = s.plan
    if plan.version is None:
        return
    floating = [d.tag for d in plan.decisions if d.move and d.kind == FLOATING]
    if not floating:
        return
    from image_release.core.plan import version_tag_of

    versions = versions_in_registry(client.list_tags(repo), s.settings) + list(plan.known_versions)
    for tag in floating:
        owner = _floating_owner(s, tag, versions)
        if owner is None:
            continue
        have = seen.get(tag, digest)
        if owner == plan.version:
            want_digest = digest
        else:
            want = client.head_manifest(repo, version_tag_of(owner, s.settings, s.context))
            if want is None:
                continue
            want_digest = want.digest
        if have == want_digest:
            continue
        client.put_manifest(repo, tag, client.get_manifest(repo, want_digest))
        s.say(f"repaired {image}:{tag} -> {owner} ({want_digest[:19]}): a concurrent release had moved it")


# -- release --------------------------------------------------------------------------------
@_once("release")
def release_step(s) -> None:
    plan = s.plan
    if not plan.release:
        s.say(f"release: skipped ({plan.release_reason})")
        return
    from image_release.pipeline.forges import client_for, forge_target
    from image_release.pipeline.notes import release_spec

    target = forge_target(s)
    spec, full_body = release_spec(s, target)
    if target.kind == "none" or s.dry_run:
        if s.dry_run:
            where = target.describe()
            s.say(f"dry run: would create or update {spec.name!r} for {spec.tag} on {where} "
                  f"(prerelease: {'yes' if spec.prerelease else 'no'}, latest: {'yes' if spec.make_latest else 'no'})")
            with s.group("release notes (dry run)"):
                s.say(full_body)
            return
        path = _notes_path(s)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(full_body)
        s.results.notes_file = str(path)
        s.say(f"release notes written to {path}")
        _summary(s)
        return
    try:
        client = client_for(s, target)
        result = client.publish_release(spec)
    except ReleaseError as e:
        raise _once_published(
            s, e, f"the images are published, but the {target.kind} release for {spec.tag} failed: {e.message}",
            "re-run the same command: the images stay as they are and the release is created or updated, "
            "never duplicated",
        ) from None
    s.results.release_url = result.url
    s.say(f"release {'created' if result.created else 'updated'}: {result.url}")
    s.reporter.set_outputs({"release-url": result.url})
    _summary(s)


def _notes_path(s) -> Path:
    n = s.settings.notes
    version = str(s.plan.version)
    if n.file:
        return s.path(n.file.format(version=version, tag=s.context.tag))
    return s.path(s.settings.output_dir) / f"release-notes-{version}.md"


def _summary(s) -> None:
    plan = s.plan
    rows = [("version", str(plan.version) if plan.version else "-"),
            ("digest", s.results.digest or "-"),
            ("tags", ", ".join(s.results.published) or "-")]
    if s.results.release_url:
        rows.append(("release", s.results.release_url))
    if s.results.notes_file:
        rows.append(("notes", s.results.notes_file))
    s.reporter.summary("image-release", rows)


# -- retention ------------------------------------------------------------------------------
def retention_step(s, *, keep=None, keep_prereleases=None, bulk=False, older_than=None) -> None:
    from image_release.adapters.cleanup import apply_retention
    from image_release.core.plan import default_images
    from image_release.core.retention import plan_retention

    c = s.settings.clean
    keep = _int_flag(keep, "--keep") if keep is not None else c.keep
    if keep is None:
        raise ConfigError("no retention count: how many versions should stay?",
                          hint="pass --keep N, or set release.clean.keep in invoke.yaml")
    keep_pre = _int_flag(keep_prereleases, "--keep-prereleases") if keep_prereleases is not None else c.keep_prereleases
    images = default_images(s.context, s.settings.images)
    if not images:
        raise ConfigError("no image to clean: release.images is empty",
                          hint="set release.images in invoke.yaml")
    if older_than and not bulk:
        raise ConfigError("--older-than goes with --bulk (GitLab's own cleanup)",
                          hint="add --bulk, or drop --older-than to keep the newest versions by SemVer")
    for image in images:
        deleter = _deleter(s, image)
        if bulk:
            _bulk_retention(s, deleter, image, keep, older_than)
            continue
        plan = plan_retention(deleter.tags_by_digest(), keep, keep_pre, c.keep_patterns)
        with s.group(f"retention for {image} (keep {keep})"):
            report = apply_retention(deleter, plan, dry_run=s.dry_run, fail_on_refused=c.fail_on_refused)
            for line in report.lines():
                s.say(line)


# A plain SemVer version tag as the registry holds it (``+`` written as ``-``): what GitLab may delete.
VERSION_TAG_REGEX = r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?"


def _bulk_retention(s, deleter, image, keep, older_than) -> None:
    """GitLab's asynchronous bulk delete of version tags: scheduled, reported, never awaited."""
    from image_release.adapters.cleanup import schedule_bulk

    if not getattr(deleter, "supports_bulk", False):
        raise ConfigError(f"--bulk is GitLab's own cleanup, and {image} is on {deleter.kind}",
                          hint="drop --bulk: the tags are then deleted one by one, by SemVer")
    keep_regex = "|".join(s.settings.clean.keep_patterns) or None
    with s.group(f"GitLab cleanup for {image} (keep {keep})"):
        report = schedule_bulk(deleter, VERSION_TAG_REGEX, keep_n=keep, name_regex_keep=keep_regex,
                               older_than=older_than, dry_run=s.dry_run)
        for line in report.lines():
            s.say(line)


def _int_flag(value, flag: str) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{flag} takes a whole number, not {value!r}", hint=f"for example {flag} 10") from None
    if n < 0:
        raise ConfigError(f"{flag} must not be negative", hint=f"for example {flag} 10")
    return n
