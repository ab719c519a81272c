"""`invoke verify IMAGE:TAG --key cosign.pub`: check a published image's signature and attestations."""

from invoke import task

from image_release.tasks._boundary import boundary


@task(help={
    "image": "the image to check, IMAGE:TAG or IMAGE@sha256:... (the digest the tag resolves to now is checked)",
    "key": "the public key of the signing key: cosign.pub, or any PEM ECDSA P-256 public key",
})
@boundary
def verify(c, image, key=None):
    """Verify an image's signature and attestations with a public key.

    Pure Python, no cosign needed: the signature payload must name the digest the tag resolves to
    and verify with the key; each attestation (a DSSE envelope) must verify and be about that
    digest; every attestation the signature lists must be there. Prints each check; exits 1 with
    the reason when anything is missing, altered or signed by another key. Only reads.
    """
    from image_release.pipeline.verifying import verify_image_ref
    from image_release.tasks._boundary import guard

    run = _run(c)
    with guard(lambda: run.redactor):
        verify_image_ref(run, image, key)


def _run(c):
    """The invocation's run (with image-release's executor), else one of this task's own: its settings,
    credentials and redactor."""
    from image_release.pipeline.run import RunRequest
    from image_release.tasks._common import RunHolder

    holder = getattr(c, "release_run", None) or RunHolder(RunRequest(steps=()))
    return holder.get(c.config)[0]
