"""Carrying out delete actions on one registry, and the report of what happened.

The first deletion goes alone, then as many at once as the deleter takes (its ``concurrency``: an OCI
registry 8, the GitHub and GitLab APIs one at a time), and the objects attached to images (signatures,
attestations) only after the images' deletes. A registry that refuses a deletion (``DeleteRefused``)
leaves that item behind with a warning; a refusal that concerns the whole registry (405: deletion
disabled or not offered) leaves the rest untried too (deletes already under way finish). With
``fail_on_refused`` anything left behind is a ``DeleteRefused`` error at the end (the report rides along
as ``error.report``). Any other failure stops the cleanup with the same typed error, saying what was
deleted so far and what was not done. The report lists everything in the order of the actions, whatever
order the deletes finished in.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Sequence

from image_release.core.actions import DeleteManifest, DeleteTag, ScheduleBulkDelete
from image_release.errors import DeleteRefused, ReleaseError
from image_release.pipeline.bounded import run_bounded

# A refusal with one of these statuses concerns the whole registry: the remaining deletions would only
# be refused again.
_REGISTRY_WIDE = (405,)


@dataclass(frozen=True)
class CleanupItem:
    what: str  # "manifest sha256:... (tags 1.0.0)" or "tag 1.0.0 (sha256:...)"
    reason: str  # why it goes (from the plan)
    detail: str = ""  # what the registry did, or why it was left behind


@dataclass
class CleanupReport:
    """What a cleanup of one image did (or, ``dry_run``, would do) and why."""

    image: str
    registry: str
    dry_run: bool = False
    deleted: list[CleanupItem] = field(default_factory=list)  # with dry_run: what would be deleted
    left_behind: list[CleanupItem] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # the plan's keep decisions, one line each
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.left_behind

    @property
    def warnings(self) -> list[str]:
        return [f"left behind: {i.what}: {i.detail}" for i in self.left_behind]

    def lines(self) -> list[str]:
        head = f"cleanup of {self.image} ({self.registry})" + (" -- dry run, nothing deleted" if self.dry_run else "")
        out = [head]
        verb = "would delete" if self.dry_run else "deleted"
        if not self.deleted and not self.left_behind:
            out.append("  nothing to delete")
        for item in self.deleted:
            detail = f" [{item.detail}]" if item.detail and not self.dry_run else ""
            out.append(f"  {verb} {item.what}: {item.reason}{detail}")
        out += [f"  {line}" for line in self.kept]
        out += [f"  WARNING: left behind {i.what} ({i.reason}): {i.detail}" for i in self.left_behind]
        out += [f"  note: {n}" for n in self.notes]
        return out


class Deletions:
    """Applies DeleteManifest/DeleteTag actions through ``deleter``; ``report`` says what happened."""

    def __init__(self, deleter, fail_on_refused: bool = False, left_behind: Sequence = (), kept: Sequence[str] = (),
                 notes: Sequence[str] = ()):
        self.deleter = deleter
        self.fail_on_refused = fail_on_refused
        self.report = CleanupReport(deleter.image, deleter.kind, kept=list(kept), notes=list(notes),
                                    left_behind=[CleanupItem(i.what, i.reason, i.detail) for i in left_behind])
        self._decided = len(self.report.left_behind)  # left behind by the plan: no delete is sent for them

    def would(self, actions: Sequence) -> CleanupReport:
        """The report of a dry run: what these actions would delete, nothing done."""
        r = self.report
        bulk = [a for a in actions if isinstance(a, ScheduleBulkDelete)]
        for action in bulk:
            if not self.deleter.supports_bulk:
                self._bulk(action)  # raises: this registry has no bulk delete
        return CleanupReport(r.image, r.registry, dry_run=True,
                             deleted=[CleanupItem(a.what, a.reason) for a in actions if a not in bulk],
                             left_behind=list(r.left_behind), kept=list(r.kept),
                             notes=list(r.notes) + [f"would {a.describe()}" for a in bulk])

    def _bulk(self, action: ScheduleBulkDelete) -> str:
        return self.deleter.bulk(action.name_regex_delete, action.keep_n, action.name_regex_keep, action.older_than)

    def __call__(self, run, actions: Sequence) -> CleanupReport:
        """Carry out ``actions``: the first one alone (a registry that refuses all deletion, or the
        credentials, is asked once), then as many at once as the deleter takes (``concurrency``, 1 unless
        it says more); an object attached to an image only after the images' deletes."""
        actions = list(actions)
        width = max(1, int(getattr(self.deleter, "concurrency", 1) or 1))
        outcomes: dict[int, tuple] = {}  # index -> ("deleted", detail) | ("refused", exc) | ("error", exc) | bulk
        for start, end in _phases(actions):
            if not outcomes:
                outcomes[start] = self._outcome(actions[start])
                start += 1
            if not any(map(_stops, outcomes.values())):
                run_bounded(self._outcome, actions, start, end, width, outcomes, _stops, "image-release-delete")
            if any(map(_stops, outcomes.values())):
                break
        return self._report(actions, outcomes)

    def _outcome(self, action) -> tuple:
        if isinstance(action, ScheduleBulkDelete):
            return "bulk", self._bulk(action)
        try:
            return "deleted", self._delete(action)
        except DeleteRefused as exc:
            return "refused", exc
        except ReleaseError as exc:
            return "error", exc

    def _report(self, actions: Sequence, outcomes: dict) -> CleanupReport:
        """The report of what happened, in the order of the actions (whatever order they finished in)."""
        untried = [a for i, a in enumerate(actions) if i not in outcomes]
        failed = [i for i in sorted(outcomes) if outcomes[i][0] == "error"]
        refusal = next((outcomes[i][1] for i in sorted(outcomes) if _stops(outcomes[i])), None)
        for i in sorted(outcomes):
            kind, value = outcomes[i]
            if kind == "bulk":
                self.report.notes.append(value)
            elif kind == "deleted":
                self.report.deleted.append(CleanupItem(actions[i].what, actions[i].reason, value))
            elif kind == "refused":
                self.report.left_behind.append(CleanupItem(actions[i].what, actions[i].reason, value.message))
        if failed:
            exc = outcomes[failed[0]][1]
            raise _stopped(exc, self.report, [actions[i] for i in failed] + untried) from exc
        if refusal is not None:
            self._left_untried(untried, refusal)
        self._maybe_fail()
        return self.report

    def _delete(self, action) -> str:
        if isinstance(action, DeleteManifest):
            return self.deleter.delete_digest(action.digest, action.tags)
        if isinstance(action, DeleteTag):
            return self.deleter.delete_tag(action.tag)
        raise TypeError(f"not a delete action: {action!r}")

    def _left_untried(self, rest: Sequence, exc: DeleteRefused) -> None:
        """The registry refuses all deletion: the rest is not attempted, and neither would what the plan
        left behind have been."""
        kind = self.deleter.kind
        untried = f"not attempted: {kind} refuses deletion ({exc.status})"
        left = self.report.left_behind
        left[:self._decided] = [CleanupItem(i.what, i.reason, untried) for i in left[:self._decided]]
        for action in rest:
            left.append(CleanupItem(action.what, action.reason, untried))
        self.report.notes.append(f"{kind} refused deletion: {exc.hint}" if exc.hint else f"{kind} refused deletion")

    def _maybe_fail(self) -> None:
        report = self.report
        if self.fail_on_refused and not report.ok:
            left = "; ".join(f"{i.what} ({i.detail})" for i in report.left_behind)
            done = ", ".join(i.what for i in report.deleted) or "nothing"
            err = DeleteRefused(
                f"cleanup of {report.image} left images behind: {left}. Deleted: {done}",
                hint=f"{report.registry} refused these; allow deletion there, delete them by hand, or set "
                "clean.fail_on_refused: false to make this a warning",
                status=405,
            )
            err.report = report  # type: ignore[attr-defined]
            raise err


def _stops(outcome: tuple) -> bool:
    """A refusal of the whole registry (405) or any other failure: nothing more is sent."""
    kind, value = outcome
    return kind == "error" or (kind == "refused" and value.status in _REGISTRY_WIDE)


def _phases(actions: Sequence) -> list[tuple[int, int]]:
    """(start, end) of the runs of actions that may go at the same time: an object attached to an image
    (a signature, an attestation) goes only after the deletes of the images, which come first."""
    from image_release.core.actions import DeleteAttached
    from image_release.core.signing import attached_subject

    def attached(a) -> bool:
        return isinstance(a, DeleteAttached) or (isinstance(a, DeleteTag) and attached_subject(a.tag) is not None)

    bounds = [i for i in range(1, len(actions)) if attached(actions[i]) != attached(actions[i - 1])]
    edges = [0, *bounds, len(actions)]
    return [(a, b) for a, b in zip(edges, edges[1:]) if b > a]


def _stopped(exc: ReleaseError, report: CleanupReport, remaining: Sequence) -> ReleaseError:
    """The same typed error, saying what was already deleted and what was not attempted."""
    new = copy.copy(exc)
    done = ", ".join(i.what for i in report.deleted) or "nothing"
    todo = ", ".join(a.what for a in remaining)
    new.message = f"{exc.message} (cleanup of {report.image} stopped; deleted so far: {done}; not done: {todo})"
    new.args = (new.message,)
    new.report = report  # type: ignore[attr-defined]
    return new
