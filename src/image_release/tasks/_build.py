"""`invoke build`: build the image from the current source."""

from image_release.tasks._common import helps, release_task

TARGET_HELP = ("a target of release.targets (monorepos), not the Dockerfile stage (release.build.target): "
               "this one alone")


@release_task("build", optional_positionals=("target",), help=helps(
    target=TARGET_HELP,
    platform="build this one platform only, e.g. linux/arm64 (one job of a CI matrix)",
    push_by_digest="push the one-platform image to every image repository by digest only (no tag moves) and "
                   "record it in <output_dir>/digests/ for `invoke release --merge`",
))
def build(c, target=None, tag=None, dry_run=False, platform=None, push_by_digest=False):
    """Build the image from the current source (Dockerfile, args, labels).

    Outside a release it needs no tag: the image gets a dev tag from git (branch-shortsha) and
    nothing is pushed. Uses BuildKit when available or needed (platforms, secrets, cache export),
    else the Docker Engine API. Settings: release.build.* in invoke.yaml. In a monorepo
    (release.targets), `invoke build TARGET` (or --target TARGET) builds that target alone.
    With --platform P --push-by-digest (when the plan publishes) it pushes that platform's
    image by digest and records it, for `invoke release --merge`.
    """
    from image_release.tasks._common import run_task

    run_task(c, "build", tag=tag, dry_run=dry_run, target=target, platform=platform,
             push_by_digest=push_by_digest)
