"""`invoke build`: build the image from the current source."""

from image_release.tasks._common import helps, release_task


@release_task("build", help=helps())
def build(c, tag=None, dry_run=False):
    """Build the image from the current source (Dockerfile, args, labels).

    Outside a release it needs no tag: the image gets a dev tag from git (branch-shortsha) and
    nothing is pushed. Uses BuildKit when available or needed (platforms, secrets, cache export),
    else the Docker Engine API. Settings: release.build.* in invoke.yaml.
    """
    from image_release.tasks._common import run_task

    run_task(c, "build", tag=tag, dry_run=dry_run)
