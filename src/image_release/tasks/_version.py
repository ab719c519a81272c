"""`invoke version`: show what a release would publish, and why."""

from invoke import task

from image_release.tasks._boundary import boundary
from image_release.tasks._common import helps


@task(help=helps(json="print the plan as JSON for scripts: version, tags (image:tag), labels, decisions"))
@boundary
def version(c, tag=None, dry_run=False, json=False):
    """Show the release plan: version, tags (and why), labels.

    The context comes from --tag, else GitHub Actions or GitLab CI variables, else local git
    (a tag on HEAD, else the branch). A tag that is not SemVer (v1.2.3, v2.0.0-rc.1) stops the
    run here, before anything is built. Floating tags (1.2, 1, latest) move only when this is the
    highest stable version of their line; prereleases never move them.
    """
    from image_release.pipeline import steps
    from image_release.pipeline.session import session_for

    s = session_for(c, tag=tag, dry_run=dry_run)
    steps.plan_step(s, as_json=json)
