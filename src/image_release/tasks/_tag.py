"""`invoke tag`: give the built image every tag of the plan, locally."""

from image_release.tasks._common import helps, release_task


@release_task("tag", help=helps())
def tag(c, tag=None, dry_run=False):
    """Tag the built image locally with every tag of the plan.

    Nothing leaves the machine; `invoke push` publishes.
    """
    from image_release.tasks._common import run_task

    run_task(c, "tag", tag=tag, dry_run=dry_run)
