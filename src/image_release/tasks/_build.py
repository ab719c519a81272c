"""`invoke build`: build the image from the current source."""

from image_release.tasks._common import helps, release_task

TARGET_HELP = ("a target of release.targets (monorepos), not the Dockerfile stage (release.build.target): "
               "this one alone")


@release_task("build", help=helps(target=TARGET_HELP))
def build(c, tag=None, dry_run=False, target=None):
    """Build the image from the current source (Dockerfile, args, labels).

    Outside a release it needs no tag: the image gets a dev tag from git (branch-shortsha) and
    nothing is pushed. Uses BuildKit when available or needed (platforms, secrets, cache export),
    else the Docker Engine API. Settings: release.build.* in invoke.yaml. In a monorepo
    (release.targets), --target NAME builds that target alone.
    """
    from image_release.tasks._common import run_task

    run_task(c, "build", tag=tag, dry_run=dry_run, target=target)
