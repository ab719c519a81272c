"""`invoke clean`: keep registries to the retention policy."""

from invoke import task

from image_release.tasks._boundary import boundary
from image_release.tasks._common import helps


@task(help=helps(keep="keep this many newest versions (default: release.clean.keep)",
                 keep_prereleases="keep this many newest prereleases (counted apart; default: same as --keep)"))
@boundary
def clean(c, keep=None, keep_prereleases=None, tag=None, dry_run=False):
    """Keep the N newest versions in the registry; delete the rest.

    Floating tags (latest, 1.2, 1) and their images are never deleted, nor tags matching
    release.clean.keep_patterns. Works on OCI registries, ghcr.io (GitHub Packages API) and
    GitLab (registry API). --dry-run lists what would go and why.
    """
    from image_release.pipeline import steps
    from image_release.pipeline.session import session_for

    steps.retention_step(session_for(c, tag=tag, dry_run=dry_run), keep=keep, keep_prereleases=keep_prereleases)
