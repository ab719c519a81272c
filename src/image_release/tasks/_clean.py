"""`invoke clean`: keep registries to the retention policy."""

from image_release.tasks._build import TARGET_HELP
from image_release.tasks._common import release_task


@release_task("retention", optional_positionals=("target",), help={
    "keep": "keep this many newest versions (default: release.clean.keep)",
    "keep_prereleases": "keep this many newest prereleases (counted apart; default: same as --keep)",
    "bulk": "GitLab only: schedule GitLab's own cleanup instead (asynchronous, at most once an hour; "
            "keeps the N most recently pushed version tags, never latest)",
    "older_than": "with --bulk: delete only version tags older than this, e.g. 7d, 1month",
    "dry_run": "list what would be deleted and why; reads are real, nothing is deleted",
    "target": TARGET_HELP + " (default: every target)",
}, kinds={"keep": int, "keep_prereleases": int})
def clean(c, target=None, keep=None, keep_prereleases=None, bulk=False, older_than=None, dry_run=False):
    """Keep the N newest versions in the registry; delete the rest.

    Floating tags (latest, 1.2, 1) and their images are never deleted, nor tags matching
    release.clean.keep_patterns. Works on OCI registries, ghcr.io (GitHub Packages API) and
    GitLab (registry API; --bulk hands the work to GitLab's own cleanup). --dry-run lists what
    would go and why. In a monorepo (release.targets) each target's images, or those of
    `invoke clean TARGET` (or --target TARGET) alone.
    """
    from image_release.tasks._common import run_task

    run_task(c, "retention", keep=keep, keep_prereleases=keep_prereleases, bulk=bulk, older_than=older_than,
             dry_run=dry_run, target=target)
