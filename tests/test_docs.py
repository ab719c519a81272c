"""The docs keep up with the code: every setting is documented, and every documented one exists."""

from __future__ import annotations

import re
from pathlib import Path

from image_release.settings import DEFAULTS

ROOT = Path(__file__).resolve().parents[1]
FREE = {"release.build.args", "release.build.labels"}  # mappings whose keys are the user's own


def setting_paths(d: dict, prefix: str = "release") -> set[str]:
    out = set()
    for key, value in d.items():
        path = f"{prefix}.{key}"
        if isinstance(value, dict) and value and path not in FREE:
            out |= setting_paths(value, path)
        else:
            out.add(path)
    return out


def test_every_setting_has_a_row_in_configuration_md():
    text = (ROOT / "docs" / "configuration.md").read_text()
    rows = set(re.findall(r"^\| `(release\.[a-z_.]+)` \|", text, re.M))
    assert setting_paths(DEFAULTS) - rows == set()
    assert rows - setting_paths(DEFAULTS) == set(), "documented settings that do not exist"


def test_docs_the_readme_links_exist():
    readme = (ROOT / "README.md").read_text()
    for link in re.findall(r"\]\(((?:docs|examples|\.github)[^)#]*)\)", readme):
        assert (ROOT / link).exists(), link


def test_readme_task_list_is_what_invoke_lists():
    import os
    import subprocess
    import sys

    readme = (ROOT / "README.md").read_text()
    shown = re.search(r"\$ invoke --list\n(.*?)```", readme, re.S).group(1)
    env = {**os.environ, "COLUMNS": "200"}
    out = subprocess.run([sys.executable, "-m", "invoke", "--list"], cwd=ROOT, capture_output=True, text=True,
                         env=env, check=True).stdout
    assert shown.strip() == out.strip()


CITED_PATH = re.compile(r"`([\w.-]+(?:/[\w.-]+)*/[\w-][\w.-]*\.\w+)`")


def cited_paths(text: str) -> set[str]:
    """Backticked relative file paths (`scripts/test.sh`, `shared/reference/x.md`) that name a folder of this
    repository, or `shared/` (the team's folder beside the checkout, which users do not have)."""
    top = {p.name for p in ROOT.iterdir()} | {"shared"}
    return {p for p in CITED_PATH.findall(text) if p.split("/", 1)[0] in top}


def test_docs_cite_only_files_of_the_repository():
    missing = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for path in cited_paths(doc.read_text()):
            if not (ROOT / path).exists():
                missing.append(f"{doc.relative_to(ROOT)}: {path}")
    assert missing == []


def test_the_cited_path_check_sees_a_missing_file():
    assert cited_paths("see `shared/reference/process.zh.md` and `src/image_release/cli.py`, not `dist/x.md`") == {
        "shared/reference/process.zh.md", "src/image_release/cli.py"}
