"""`invoke push`: publish the image and its tags to the registry."""

from invoke import task

from image_release.tasks._boundary import boundary
from image_release.tasks._common import helps
from image_release.tasks import tag as _tag


@task(pre=[_tag.tag], help=helps())
@boundary
def push(c, tag=None, dry_run=False):
    """Publish the image: version tag once, then every other tag.

    Order: version tag, verified in the registry; then floating tags; then each tag is read back
    and checked against the pushed digest. A re-released version replaces its old image without a
    gap, and the old digest is deleted only when no tag points at it. Pull requests push nothing.
    """
    from image_release.pipeline import steps
    from image_release.pipeline.session import session_for

    steps.publish_step(session_for(c, tag=tag, dry_run=dry_run))
