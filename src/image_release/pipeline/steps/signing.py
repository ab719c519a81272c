"""The sign step (part of ``invoke push`` and ``invoke release``, after publishing): attest the published
digest (an SBOM made by syft, SLSA provenance) and sign it in cosign's format, per image repository.

Off (``release.sign`` names no key and mode is not cosign), the step does nothing and says nothing. On, it
is skipped with the publish step's reason when nothing is pushed. Its checks: the tools (cosign in cosign
mode, syft for an SBOM; a dry run only warns), the provenance inputs, and the key itself (it is loaded and
its password tried before anything is built; a dry run needs no key).
"""

from __future__ import annotations

from image_release.core.signing_plan import COSIGN, SigningInputs, signing_actions
from image_release.errors import ConfigError, ReleaseError, SigningError
from image_release.pipeline.checks import REAL, WARN_IN_DRY_RUN, Check


def build_facts(run):
    """What the provenance says about this run's build (core.provenance.BuildFacts): the repository, commit,
    ref, CI run and builder, the Dockerfile, context, platforms and build argument names (never values)."""
    from dataclasses import replace

    from image_release.core.provenance import arg_names, facts_from_context

    ctx, b = run.context, run.settings.build
    more = dict(build_args=arg_names(dict(b.args)), dockerfile=b.dockerfile, platforms=tuple(b.platforms))
    source = run.settings.project.get("source")
    if source:
        more["repository_url"] = source
    # BuildFacts.context (the build context) cannot go through facts_from_context's **more: its first
    # parameter has that name.
    return replace(facts_from_context(ctx, run.env, **more), context=b.context)


def signing_inputs(run) -> SigningInputs:
    s = run.settings
    return SigningInputs(mode=s.sign.mode, keyless=s.sign.mode == COSIGN and not s.sign.key_env, sbom=s.sbom,
                         provenance=build_facts(run) if s.provenance else None)


def signed_note_of(run, assets: bool = True):
    """What the release notes say about the signature (core.signing_plan.SignedNote), None when signing is
    off: the verify command for the first image at the digest published (its tag in a dry run)."""
    from image_release.core.signing_plan import keyless_identity, sbom_asset_name, signed_note

    s, plan, ctx = run.settings, run.plan, run.context
    if not s.sign.enabled or not plan.images:
        return None
    inputs = signing_inputs(run)
    image, tag = plan.images[0], plan.primary_tag
    digest = run.results.resolved.get(image, {}).get(tag) or run.results.digest
    identity = keyless_identity(ctx.ci, ctx.server_url, ctx.repository, run.env) if inputs.keyless else None
    asset = sbom_asset_name(s.sbom, str(plan.version or tag)) if (s.sbom and assets) else None
    return signed_note(image, digest, tag, inputs, identity, asset)


def sbom_asset(run):
    """The SBOM the sign step attested, as a release asset (None: no SBOM in this run)."""
    from image_release.core.release_spec import Asset
    from image_release.core.signing_plan import sbom_asset_name

    st = getattr(run.results, "signing", None)
    if st is None or st.sbom is None:
        return None
    fmt, data = st.sbom
    return Asset(sbom_asset_name(fmt, str(run.plan.version or run.plan.primary_tag)), data, "application/json")


def check_tools(run) -> None:
    if run.settings.sign.mode == COSIGN:
        from image_release.adapters.cosign_cli import cosign_binary

        cosign_binary(run.env)
    if run.settings.sbom:
        from image_release.adapters.syft import syft_binary

        syft_binary()


def check_provenance(run) -> None:
    if not run.settings.provenance:
        return
    from image_release.core.provenance import provenance_predicate

    try:
        provenance_predicate(build_facts(run))
    except SigningError as e:
        raise ConfigError(f"release.provenance: {e.message}",
                          hint="run in CI, give the repository an origin remote, or set release.project.source "
                          "(the provenance names the source it was built from)") from None


def check_key(run) -> None:
    s = run.settings.sign
    if s.mode == COSIGN:
        if s.key_env and not run.env.get(s.key_env):
            raise ConfigError(f"signing is on, but ${s.key_env} (release.sign.key_env) is not set",
                              hint=f"put the private key in the secret ${s.key_env}, or drop key_env to sign keyless")
        return
    from image_release.pipeline.apply_sign import signer

    signer(run)


class SignStep:
    name = "sign"

    def skip(self, run) -> str | None:
        if not run.settings.sign.enabled:
            return None  # off: run() does nothing, silently
        return None if run.plan.push else run.plan.push_reason

    def checks(self, run):
        if not run.settings.sign.enabled:
            return ()
        return (Check("signing tools", check_tools, WARN_IN_DRY_RUN), Check("provenance", check_provenance),
                Check("signing key", check_key, REAL))

    def run(self, run) -> None:
        from image_release.pipeline.runner import apply
        from image_release.pipeline.steps.publishing import once_published

        if not run.settings.sign.enabled:
            return
        plan, tag = run.plan, run.plan.primary_tag
        digests = {image: run.results.resolved.get(image, {}).get(tag) for image in plan.images}
        actions = signing_actions(plan.images, tag, signing_inputs(run), digests)
        with run.group("sign"):
            try:
                apply(run, actions)
            except ReleaseError as e:
                raise once_published(run, e, f"the images are published, but signing stopped: {e.message}",
                                     "re-run the same command: what is published stays, and what is signed and "
                                     "attested already is not written again") from None
