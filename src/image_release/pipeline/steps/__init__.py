"""The steps of a run, GoReleaser-style: each says whether it is skipped and why (``skip``), what it
checks before anything is built (``checks``), and how it runs (``run``: read what it needs, let a pure
function in core decide the actions, hand them to the applier).

``CHAINS`` is the whole dependency order, in one place: a task runs its chain, each step once per run.
Publishing includes signing: ``invoke push`` and ``invoke release`` both sign what they published (when
``release.sign`` is on; otherwise the sign step does nothing).
"""

from __future__ import annotations

from image_release.pipeline.steps.building import BuildStep, TagStep
from image_release.pipeline.steps.cleaning import RetentionStep
from image_release.pipeline.steps.planning import PlanStep
from image_release.pipeline.steps.publishing import PublishStep
from image_release.pipeline.steps.releasing import ReleaseStep
from image_release.pipeline.steps.signing import SignStep

STEPS = {s.name: s for s in (PlanStep(), BuildStep(), TagStep(), PublishStep(), SignStep(), ReleaseStep(),
                             RetentionStep())}

CHAINS: dict[str, tuple[str, ...]] = {
    "plan": ("plan",),
    "build": ("plan", "build"),
    "tag": ("plan", "build", "tag"),
    "publish": ("plan", "build", "publish", "sign"),
    "sign": ("plan", "build", "publish", "sign"),
    "release": ("plan", "build", "publish", "sign", "release"),
    "retention": ("retention",),
}


def chain_of(steps) -> tuple[str, ...]:
    """Every step the given steps need, once each, in run order."""
    wanted = {s for step in steps for s in CHAINS[step]}
    order = [s for s in ("plan", "build", "tag", "publish", "sign", "release", "retention") if s in wanted]
    return tuple(order)
