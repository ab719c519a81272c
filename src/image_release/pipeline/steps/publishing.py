"""The publish step (``invoke push``): per image, read whether the version tag exists (a re-release),
let core decide the actions (core.publish), apply them. What a failure leaves published is listed, and
re-running the same command converges."""

from __future__ import annotations

from image_release.core.publish import PublishFacts, marked_images, publish_actions, version_tag
from image_release.errors import PublishError, ReleaseError
from image_release.pipeline import checks
from image_release.pipeline.checks import REAL, Check

RERUN = "re-run the same command: it converges (tags already published stay as they are)"


def once_published(run, error: ReleaseError, message: str, then: str) -> ReleaseError:
    """``error`` itself while nothing is published; after that, a PublishError that lists what is out
    and says how to finish (``then``), keeping the original hint first."""
    if not run.results.published or isinstance(error, PublishError):
        return error
    hint = (f"{error.hint}; then " if error.hint else "") + then
    return PublishError(message, hint=hint, published=tuple(run.results.published))


def read_facts(run, image: str) -> PublishFacts:
    """What the registry holds before publishing: the digest the version tag points at (a re-release),
    asked only when the tag list read for the plan does not already say the tag is absent, and the
    images an earlier run marked replaced (in that tag list)."""
    plan = run.plan
    tag = version_tag(plan)
    listed = run.registry_tags.get(image)
    marked = marked_images(listed or ())
    if tag is None or (listed is not None and tag not in listed):
        return PublishFacts(image=image, marked=marked)
    name, client = run.registry_for(image)
    info = client.head_manifest(name.repository, tag)
    return PublishFacts(image=image, old_digest=info.digest if info else None, marked=marked)


class PublishStep:
    name = "publish"

    def skip(self, run) -> str | None:
        return None if run.plan.push else run.plan.push_reason

    def checks(self, run):
        return (Check("registries", checks.registries, REAL),)

    def run(self, run) -> None:
        from image_release.pipeline.runner import apply

        for image in run.plan.images:
            with run.group(f"publish {image}"):
                try:
                    apply(run, publish_actions(run.plan, read_facts(run, image)))
                except ReleaseError as e:
                    raise once_published(run, e, f"publishing {image} stopped: {e.message}", RERUN) from None
        run.reporter.set_outputs({"digest": run.results.digest or "", "tags": "\n".join(run.results.published)})
