import os

import pytest
from hypothesis import HealthCheck, settings

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.gitrepo",
    "tests.fixtures.registry_extra",
    "tests.fixtures.forge_fakes",
    "tests.fixtures.project",
]

# No example fails for taking long on a loaded machine (no deadline, no too_slow health check), in CI or
# not. In CI every run also explores the same examples (derandomize), so a run's result depends on the
# code alone; locally, Hypothesis keeps searching new examples.
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")


# The slow tests: every test function one of whose items took 2 s or more on the 2-core development machine
# (`pytest --durations=0`, idle). `pytest -m "not slow"` leaves them out; `scripts/test` prints the 15 slowest of
# each run, so a test that became slow shows up there. Names are per module; a name that no longer exists in its
# module stops the run, so this list stays true when a test is renamed.
SLOW = {
    "test_changelog.py": {"test_parse_never_raises"},
    "test_dockerfile.py": {"test_image_builds_on_the_local_base_and_lists_tasks"},
    "test_e2e_chain.py": {
        "test_backport_does_not_move_major_or_latest",
        "test_clean_keeps_the_newest_versions",
        "test_dry_run_reads_but_writes_nothing",
        "test_rerelease_replaces_the_image_without_touching_other_versions",
    },
    "test_e2e_ci.py": {"test_github_tag_push_releases_and_writes_outputs"},
    "test_e2e_monorepo.py": {
        "test_build_and_clean_one_target",
        "test_github_tag_push_releases_the_target_with_its_git_tag_and_name",
        "test_tags_backport_and_branch_pushes_each_touch_their_own_target",
    },
    "test_metadata_wiring.py": {"test_several_targets_write_their_outputs_under_their_names"},
    "test_faults.py": {
        "test_forge_5xx_once_is_retried_and_makes_one_release",
        "test_forge_already_exists_race_ends_with_one_release",
        "test_forge_lasting_5xx_fails_cleanly_and_rerun_converges",
        "test_gitlab_5xx_once_is_retried_and_a_rerun_converges",
        "test_lasting_engine_push_fault_publishes_nothing_and_rerun_converges",
        "test_lasting_fault_after_the_version_tag_leaves_floating_tags_alone",
        "test_lasting_fault_on_a_floating_tag_stops_says_what_was_published_and_rerun_converges",
        "test_lasting_fault_on_the_readback_says_what_was_published",
        "test_transient_registry_fault_is_retried_and_the_release_succeeds",
    },
    "test_race.py": {
        "test_concurrent_releases_leave_every_floating_tag_on_the_highest_version",
        "test_the_lower_release_overwriting_after_the_higher_ones_put_is_repaired_and_both_succeed",
    },
    "test_readme.py": {
        "test_a_backport_goes_on_a_maintenance_branch_and_names_its_own_notes",
        "test_a_failed_release_takes_back_its_commit_and_tag",
        "test_local_release_command",
        "test_test_command",
    },
    "test_registry_tag_race.py": {"test_the_registry_answers_500_and_never_404_while_a_tag_is_re_put"},
    "test_secrets.py": {"test_a_full_release_leaks_no_secret_anywhere", "test_error_paths_leak_nothing"},
}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config, items):
    modules = {}
    for item in items:
        names = SLOW.get(item.path.name)
        if names and getattr(item, "originalname", item.name) in names:
            item.add_marker(pytest.mark.slow)
        if names and getattr(item, "module", None) is not None:
            modules[item.path.name] = item.module
    stale = sorted(f"{m}::{n}" for m, mod in modules.items() for n in SLOW[m] if not hasattr(mod, n))
    if stale:
        raise pytest.UsageError(f"tests/conftest.py SLOW names tests that do not exist: {', '.join(stale)}; "
                                "rename or remove them there")
