"""Handlers of the image actions: build, local tags, and the push of the first tag (engine, registry)."""

from __future__ import annotations

from image_release.errors import BuildError, PublishError, ReleaseError


def build(run, action) -> None:
    spec = action.spec
    with run.group(f"build {', '.join(spec.tags)}"):
        result = run.engine().build(spec, auths=_build_auths(run, spec))
    r = run.results
    r.image_id = result.image_id
    r.built_refs = result.tags
    if result.pushed and result.digest:  # a multi-platform BuildKit build pushes as it builds
        r.digest = result.digest
        r.build_pushed = True


def _build_auths(run, spec):
    """A build that pushes by itself (several platforms) uses the credentials every other registry call
    uses, handed to the engine (a temporary DOCKER_CONFIG it removes after), never the user's own."""
    if spec.output != "push":
        return None
    from image_release.adapters.registry_auth import docker_auth_config

    auths = {}
    for image in run.plan.images:
        name, client = run.registry_for(image)
        auth = docker_auth_config(client.credentials)
        if auth:
            auths[name.registry] = auth
    return auths


def tag_local(run, action) -> None:
    _require_image(run)
    run.engine().tag(run.results.image_id, action.refs)
    run.say(f"tagged locally: {', '.join(action.refs)}")


def _require_image(run) -> None:
    if not run.results.image_id:
        raise BuildError("no image was built in this run", hint="run `invoke build` (it runs before tag and push)")


def push_version(run, action) -> None:
    """Push ``image:tag`` once through the engine (or take the digest the build pushed), then read the tag
    back: it must resolve to the pushed digest."""
    name, client = run.registry_for(action.image)
    ref = f"{action.image}:{action.tag}"
    r = run.results
    if r.build_pushed and r.digest:
        digest = r.digest
    else:
        _require_image(run)
        from image_release.adapters.registry_auth import docker_auth_config

        if ref not in r.built_refs:  # a branch build's first tag is not its local dev tag
            run.engine().tag(r.image_id, [ref])
        digest = _push_with_retry(run, ref, docker_auth_config(client.credentials))
    r.published.append(ref)  # it is out there; a failing read-back says so
    landed = _read_back(client, name.repository, action.tag)  # the manifest itself: PutTags puts its bytes
    if landed is None or landed.digest != digest:
        raise PublishError(
            f"{ref} does not resolve to the pushed digest {digest} (registry says "
            f"{landed.digest if landed else 'no such tag'})",
            hint="another run may be publishing the same version; re-run the same command",
            published=tuple(r.published),
        )
    r.digest = digest
    r.pushed[action.image] = digest
    r.manifests[action.image] = landed
    r.resolved.setdefault(action.image, {})[action.tag] = digest
    run.say(f"pushed {ref}, read back from the registry: {digest}")


def _read_back(client, repo: str, tag: str):
    """The manifest ``repo:tag`` serves now (its bytes checked against its digest), or None."""
    from image_release.errors import RegistryError

    try:
        return client.get_manifest(repo, tag)
    except RegistryError as e:
        if e.status == 404:
            return None
        raise


def _push_with_retry(run, ref: str, auth) -> str:
    """The engine's push, retried by the run's one policy when the registry failed transiently (5xx,
    408, 429, connection trouble). A failure says that nothing of this image was published (floating
    tags are only put after this push) and how to finish."""
    from image_release.adapters.http_retry import call_with_retry

    def give_up(e, attempts: int):
        if not isinstance(e, ReleaseError):
            return e
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        return PublishError(
            f"{e.message}{tries}; {ref} was not published and no floating tag was touched",
            hint=(f"{e.hint}; then " if e.hint else "") + "re-run the same command",
            published=tuple(run.results.published),
        )

    return call_with_retry(lambda: run.engine().push(ref, auth), run.retry_policy(), log=run.warn,
                           what=f"push {ref}", give_up=give_up)
