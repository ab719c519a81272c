"""Flags and help text every task of the chain shares."""

CHAIN_HELP = {
    "tag": "release this version tag, e.g. v1.2.3 (default: from CI or the git tag on HEAD); reaches every step",
    "dry_run": "plan and print only: reads are real, nothing is built, pushed, deleted or created",
}


def helps(**extra: str) -> dict:
    return {**CHAIN_HELP, **extra}
