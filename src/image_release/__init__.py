"""image-release: take a container image from a git tag to a registry and a published release.

The public API is small: the Invoke collection (``from image_release.tasks import ns``) and the
``image-release`` console command. Everything else is internal.
"""

__version__ = "0.1.0"
