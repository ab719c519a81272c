"""Handlers of the release actions: the forge release (GitHub, GitLab), or the notes file."""

from __future__ import annotations

from pathlib import Path


def publish_release(run, action) -> None:
    from image_release.pipeline.forges import client_for

    result = client_for(run, action.target).publish_release(action.spec)
    run.results.release_url = result.url
    run.say(f"release {'created' if result.created else 'updated'}: {result.url}")
    run.reporter.set_outputs({"release-url": result.url})
    summary(run)


def write_notes(run, action) -> None:
    """No forge: the notes go to their file, and the release's assets (the SBOM, the digests) beside it."""
    path = Path(action.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(action.body)
    run.results.notes_file = str(path)
    run.say(f"release notes written to {path}")
    for asset in action.spec.assets:
        if asset.name == "release-notes.md":
            continue  # the notes file is the whole notes already
        (path.parent / asset.name).write_bytes(asset.content)
        run.say(f"release asset written to {path.parent / asset.name}")
    summary(run)


def summary(run) -> None:
    plan, r = run.plan, run.results
    rows = [("version", str(plan.version) if plan.version else "-"),
            ("digest", r.digest or "-"),
            ("tags", ", ".join(r.published) or "-")]
    if r.release_url:
        rows.append(("release", r.release_url))
    if r.notes_file:
        rows.append(("notes", r.notes_file))
    run.reporter.summary("image-release", rows)
