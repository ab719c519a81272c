"""`invoke release`: the whole chain, ending with the GitHub or GitLab release."""

from image_release.tasks._common import helps, release_task


@release_task("release", help=helps(
    merge="publish the per-platform builds recorded here (a folder such as dist/digests, or record files, "
          "comma-separated) as one multi-platform index instead of building",
))
def release(c, tag=None, dry_run=False, merge=None):
    """The whole chain: build, publish, and the GitHub/GitLab release.

    The forge is GitHub (PyGithub, GITHUB_TOKEN) or GitLab (python-gitlab, CI_JOB_TOKEN or
    GITLAB_TOKEN), from the CI or release.forge; without one the notes are written to a file under
    the output folder. Notes: image refs and digest, pull/run commands, changelog since the
    previous release, system requirements. The forge token is checked before anything is built.
    With --merge DIR the images are the per-platform builds' (`invoke build --platform P
    --push-by-digest`), checked and merged into one index before any tag moves.
    """
    from image_release.tasks._common import run_task

    run_task(c, "release", tag=tag, dry_run=dry_run, merge=merge)
