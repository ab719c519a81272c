"""This repository's tasks: image-release releases itself with its own collection.

Settings are in invoke.yaml beside this file (see docs/configuration.md).
"""

from image_release.tasks import ns  # noqa: F401
