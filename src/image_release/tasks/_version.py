"""`invoke version`: show what a release would publish, and why."""

from image_release.tasks._common import helps, release_task


@release_task("plan", help=helps(json="print the plan as JSON for scripts: version, tags (image:tag), labels, decisions"))
def version(c, tag=None, dry_run=False, json=False):
    """Show the release plan: version, tags (and why), labels.

    The context comes from --tag, else GitHub Actions or GitLab CI variables, else local git
    (a tag on HEAD, else the branch). A tag that is not SemVer (v1.2.3, v2.0.0-rc.1) stops the
    run here, before anything is built. Floating tags (1.2, 1, latest) move only when this is the
    highest stable version of their line; prereleases never move them.
    """
    from image_release.tasks._common import run_task

    run_task(c, "plan", tag=tag, dry_run=dry_run, json=json)
