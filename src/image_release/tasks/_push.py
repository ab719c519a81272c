"""`invoke push`: publish the image and its tags to the registry."""

from image_release.tasks._common import helps, release_task


@release_task("publish", help=helps())
def push(c, tag=None, dry_run=False):
    """Publish the image: version tag once, then every other tag.

    Order: version tag, verified in the registry; then floating tags; then each tag is read back
    and checked against the pushed digest. A re-released version replaces its old image without a
    gap, and the old digest is deleted only when no tag points at it. Pull requests push nothing.
    """
    from image_release.tasks._common import run_task

    run_task(c, "publish", tag=tag, dry_run=dry_run)
