pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.gitrepo",
    "tests.fixtures.registry_extra",
    "tests.fixtures.forge_fakes",
]
