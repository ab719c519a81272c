"""`invoke release`: the whole chain, ending with the GitHub or GitLab release."""

from image_release.tasks._common import helps, release_task


@release_task("release", help=helps())
def release(c, tag=None, dry_run=False):
    """The whole chain: build, publish, and the GitHub/GitLab release.

    The forge is GitHub (PyGithub, GITHUB_TOKEN) or GitLab (python-gitlab, CI_JOB_TOKEN or
    GITLAB_TOKEN), from the CI or release.forge; without one the notes are written to a file under
    the output folder. Notes: image refs and digest, pull/run commands, changelog since the
    previous release, system requirements. The forge token is checked before anything is built.
    """
    from image_release.tasks._common import run_task

    run_task(c, "release", tag=tag, dry_run=dry_run)
