from image_release.tasks import ns  # noqa: F401  (the whole release chain, in one line)
