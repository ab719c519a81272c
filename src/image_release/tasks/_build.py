"""`invoke build`: build the image from the current source."""

from invoke import task

from image_release.tasks._boundary import boundary
from image_release.tasks._common import helps
from image_release.tasks import version as _version


@task(pre=[_version.version], help=helps())
@boundary
def build(c, tag=None, dry_run=False):
    """Build the image from the current source (Dockerfile, args, labels).

    Outside a release it needs no tag: the image gets a dev tag from git (branch-shortsha) and
    nothing is pushed. Uses BuildKit when available or needed (platforms, secrets, cache export),
    else the Docker Engine API. Settings: release.build.* in invoke.yaml.
    """
    from image_release.pipeline import steps
    from image_release.pipeline.session import session_for

    steps.build_step(session_for(c, tag=tag, dry_run=dry_run))
