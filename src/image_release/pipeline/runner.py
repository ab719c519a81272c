"""Running steps and applying their actions: the one place where a dry run differs from a real run.

``execute(run, step)`` runs the chain up to ``step``, each step once per run. After the plan and
before the first step that could write, every check of every step the run will reach runs once
(``pipeline.checks``): bad input stops the run before anything is built or pushed.

``apply(run, actions)`` carries the actions out through their handlers, or, in a dry run, prints
each one ("dry run: would ...") and carries out none. Reads stay real in a dry run; writes happen
only here.
"""

from __future__ import annotations

from dataclasses import replace

from image_release.core import actions as a
from image_release.errors import ReleaseError
from image_release.pipeline import apply_image, apply_release, apply_sign, apply_tags
from image_release.pipeline.checks import REAL, WARN_IN_DRY_RUN
from image_release.pipeline.steps import CHAINS, STEPS, chain_of

HANDLERS = {
    a.Build: apply_image.build,
    a.TagLocal: apply_image.tag_local,
    a.PushVersion: apply_image.push_version,
    a.PutTags: apply_tags.put_tags,
    a.Converge: apply_tags.converge,
    a.MarkReplaced: apply_tags.mark_replaced,
    a.DeleteIfUntagged: apply_tags.delete_if_untagged,
    a.FinishReplacements: apply_tags.finish_replacements,
    a.PublishRelease: apply_release.publish_release,
    a.WriteNotes: apply_release.write_notes,
    a.Attest: apply_sign.attest,
    a.Sign: apply_sign.sign,
}

DRY_RUN_NOTE = "dry run: reads are real; nothing will be built, pushed, deleted or created"


def execute(runs, step: str) -> None:
    """Run ``step`` and every step before it in its chain that has not run yet, in every run of the
    invocation (one per release target): every plan first, then every check, then each step of the
    chain in every run before the next step (nothing is pushed before everything is built)."""
    chain = CHAINS[step]
    for run in runs:
        if any(s not in run.request.steps for s in chain):  # reached from a task's own body: the run grows
            run.request = replace(run.request, steps=chain_of(run.request.steps + chain))
        if "build" in run.request.steps and not run.dry_run:
            run.warm_engine()  # overlaps the engine's start-up with the plan's reads
    for i, name in enumerate(chain):
        if i == 1 or (i == 0 and name != "plan"):
            for run in runs:
                preflight(run)
        for run in runs:
            _run_step(run, name)


def _run_step(run, name: str) -> None:
    if name in run.done:
        return
    run.done.add(name)
    step = STEPS[name]
    reason = step.skip(run)
    if reason:
        run.say(f"{_label(name)}: skipped ({reason})")
        return
    step.run(run)
    if name == "plan" and run.dry_run and not run.request.option("plan", "json"):
        run.say(DRY_RUN_NOTE)


def _label(name: str) -> str:
    return {"publish": "push", "plan": "version", "retention": "clean"}.get(name, name)


def preflight(run) -> None:
    """Every check of every step this run will reach and does not skip, once each."""
    for name in run.request.steps:
        if name in run.checked:
            continue
        run.checked.add(name)
        step = STEPS[name]
        if step.skip(run):
            continue
        for check in step.checks(run):
            _check(run, check)


def makes_real_checks(run) -> bool:
    """Whether this run makes the checks of write access (``REAL``): a dry run needs no write access."""
    return not run.dry_run


def _check(run, check) -> None:
    if check.when == REAL and not makes_real_checks(run):
        return
    try:
        check.fn(run)
    except ReleaseError as e:
        if run.dry_run and check.when == WARN_IN_DRY_RUN:
            run.warn(f"{e.message} ({e.hint})" if e.hint else e.message)
            return
        raise


def apply(run, actions, *, using=None, prefix: str = ""):
    """Carry out ``actions`` in order, or print them in a dry run.

    Each action goes to its handler; or the whole list to ``using``, a batch applier with a report
    (``using(run, actions)`` applies, ``using.would(actions)`` says what it would do), whose report
    lines are printed either way (each after ``prefix``). Returns the batch's report, else True after
    the handlers and False in a dry run."""
    actions = list(actions)
    if using is not None:
        report = using.would(actions) if run.dry_run else using(run, actions)
        for line in report.lines():
            run.say(f"{prefix}{line.strip() if prefix else line}")
        return report
    if run.dry_run:
        for action in actions:
            run.say(f"dry run: would {action.describe()}")
            details = action.details()
            if details:
                with run.group(details[0]):
                    run.say(details[1])
        return False
    for action in actions:
        HANDLERS[type(action)](run, action)
    return True
