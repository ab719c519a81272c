"""`invoke clean`: keep registries to the retention policy."""

from invoke import task

from image_release.tasks._boundary import boundary
from image_release.tasks._common import helps


@task(help=helps(keep="keep this many newest versions (default: release.clean.keep)",
                 keep_prereleases="keep this many newest prereleases (counted apart; default: same as --keep)",
                 bulk="GitLab only: schedule GitLab's own cleanup instead (asynchronous, at most once an hour; "
                      "keeps the N most recently pushed version tags, never latest)",
                 older_than="with --bulk: delete only version tags older than this, e.g. 7d, 1month"))
@boundary
def clean(c, keep=None, keep_prereleases=None, bulk=False, older_than=None, tag=None, dry_run=False):
    """Keep the N newest versions in the registry; delete the rest.

    Floating tags (latest, 1.2, 1) and their images are never deleted, nor tags matching
    release.clean.keep_patterns. Works on OCI registries, ghcr.io (GitHub Packages API) and
    GitLab (registry API; --bulk hands the work to GitLab's own cleanup). --dry-run lists what
    would go and why.
    """
    from image_release.pipeline import steps
    from image_release.pipeline.session import session_for

    steps.retention_step(session_for(c, tag=tag, dry_run=dry_run), keep=keep, keep_prereleases=keep_prereleases,
                         bulk=bulk, older_than=older_than)
