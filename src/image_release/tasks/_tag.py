"""`invoke tag`: give the built image every tag of the plan, locally."""

from invoke import task

from image_release.tasks._boundary import boundary
from image_release.tasks._common import helps
from image_release.tasks import build as _build


@task(pre=[_build.build], help=helps())
@boundary
def tag(c, tag=None, dry_run=False):
    """Tag the built image locally with every tag of the plan.

    Nothing leaves the machine; `invoke push` publishes.
    """
    from image_release.pipeline import steps
    from image_release.pipeline.session import session_for

    steps.tag_step(session_for(c, tag=tag, dry_run=dry_run))
