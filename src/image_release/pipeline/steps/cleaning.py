"""The retention step (``invoke clean``): per image, read the tags and their manifests, let core decide
what goes (core.retention, core.cleanup), apply the deletions. In a monorepo each target's run cleans
its own images, by its own settings (``release.targets.NAME.clean``, its flavor). On GitLab, ``--bulk`` schedules
GitLab's own asynchronous cleanup instead (keep_n = N, keep patterns as name_regex_keep)."""

from __future__ import annotations

from image_release.core.actions import ScheduleBulkDelete
from image_release.core.cleanup import kept_lines, pending_replacements, retention_actions
from image_release.core.plan import version_affixes
from image_release.core.publish import without_records
from image_release.core.retention import plan_retention
from image_release.core.signing import split_attached
from image_release.core.versions import version_tag_regex
from image_release.errors import ConfigError
from image_release.pipeline.checks import Check
from image_release.pipeline.deletions import Deletions


def _int_option(value, flag: str, minimum: int) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{flag} takes a whole number, not {value!r}", hint=f"for example {flag} 10") from None
    if n < minimum:
        raise ConfigError(f"{flag} must be at least {minimum}", hint=f"for example {flag} 10")
    return n


def options(run) -> tuple[int, int | None, bool, str | None]:
    """(keep, keep_prereleases, bulk, older_than) from the flags, else the settings."""
    c = run.settings.clean
    opt = run.request.options.get("retention") or {}
    keep = _int_option(opt["keep"], "--keep", 0) if opt.get("keep") is not None else c.keep
    if keep is None:
        raise ConfigError("no retention count: how many versions should stay?",
                          hint="pass --keep N, or set release.clean.keep in invoke.yaml")
    pre = opt.get("keep_prereleases")
    keep_pre = _int_option(pre, "--keep-prereleases", 0) if pre is not None else c.keep_prereleases
    bulk, older_than = bool(opt.get("bulk")), opt.get("older_than") or None
    if older_than and not bulk:
        raise ConfigError("--older-than goes with --bulk (GitLab's own cleanup)",
                          hint="add --bulk, or drop --older-than to keep the newest versions by SemVer")
    return keep, keep_pre, bulk, older_than


def images(run) -> tuple[str, ...]:
    from image_release.core.plan import default_images

    found = default_images(run.context, run.settings.images, run.settings.semantics)
    if not found:
        where = f"release.targets.{run.target.name}.images" if run.target else "release.images"
        raise ConfigError(f"no image to clean: {where} is empty", hint=f"set {where} in invoke.yaml")
    return found


class RetentionStep:
    name = "retention"

    def skip(self, run) -> str | None:
        return None

    def checks(self, run):
        return (Check("retention options", options), Check("images", images))

    def run(self, run) -> None:
        keep, keep_pre, bulk, older_than = options(run)
        for image in images(run):
            deleter = run.deleter_for(image)
            if bulk:
                self._bulk(run, deleter, image, keep, older_than)
            else:
                self._retain(run, deleter, image, keep, keep_pre)

    @staticmethod
    def _retain(run, deleter, image: str, keep: int, keep_pre: int | None) -> None:
        prefix, suffix = version_affixes(run.settings)
        tags = deleter.tags_by_digest()
        images_only, _attached = split_attached(without_records(tags))  # records, signatures: never versions
        plan = plan_retention(images_only, keep, keep_pre, run.settings.clean.keep_patterns,
                              prefix=prefix, suffix=suffix)
        with run.group(f"retention for {image} (keep {keep})"):
            run.say(plan.lines()[0])
            retain(run, deleter, plan, tags, pending_replacements(deleter.image, tags))

    @staticmethod
    def _bulk(run, deleter, image: str, keep: int, older_than: str | None) -> None:
        if not getattr(deleter, "supports_bulk", False):
            raise ConfigError(f"--bulk is GitLab's own cleanup, and {image} is on {deleter.kind}",
                              hint="drop --bulk: the tags are then deleted one by one, by SemVer")
        keep_regex = "|".join(run.settings.clean.keep_patterns) or None
        # GitLab may delete what the registry holds as a version tag: the same definition, as a regex.
        action = ScheduleBulkDelete(image, version_tag_regex(*version_affixes(run.settings)), keep_n=keep,
                                    name_regex_keep=keep_regex, older_than=older_than)
        with run.group(f"GitLab cleanup for {image} (keep {keep})"):
            from image_release.pipeline.runner import apply

            apply(run, [action], using=Deletions(deleter))


def retain(run, deleter, plan, tags_by_digest=None, pending=()):
    """Apply a retention plan to ``deleter``'s repository, and finish the ``pending`` replacements earlier
    releases left marked: the CleanupReport of what went (or would). ``tags_by_digest``: the
    repository's whole tag map the plan was made from; the signatures and attestations of every
    manifest deleted go with it."""
    from image_release.pipeline.attached import with_attached
    from image_release.pipeline.runner import apply

    actions, left = retention_actions(deleter.image, plan, single_tag=deleter.supports_single_tag,
                                      registry=deleter.kind)
    actions, deleter = with_attached(run, deleter.image, deleter, list(pending) + actions, tags_by_digest)
    deletions = Deletions(deleter, run.settings.clean.fail_on_refused, left_behind=left, kept=kept_lines(plan))
    return apply(run, actions, using=deletions)
