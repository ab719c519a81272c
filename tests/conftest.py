import os

from hypothesis import HealthCheck, settings

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.gitrepo",
    "tests.fixtures.registry_extra",
    "tests.fixtures.forge_fakes",
    "tests.fixtures.project",
]

# In CI every run explores the same examples (derandomize), so a run's result depends on the code
# alone, and no example fails for taking long on a loaded machine (no deadline). Locally, Hypothesis
# keeps searching new examples.
settings.register_profile("ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
if os.environ.get("CI"):
    settings.load_profile("ci")
