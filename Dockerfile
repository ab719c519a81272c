# The image of image-release itself: `docker run IMAGE --list`, or in CI `image: <this image>` and
# `image-release release` in the checked-out repository (mounted at /workspace).
#
#   docker build -t image-release .
#   docker build --build-arg PYTHON_BASE="$(scripts/make-python-base.sh)" -t image-release .   # no pull
#
# PYTHON_BASE must provide python3 (>= 3.11) with the venv module (python:3.11-slim does; Debian's python3
# needs python3-venv, as the local base has). pip is configured through the PIP_* build arguments below,
# for a mirror or an offline wheelhouse inside the build context.
ARG PYTHON_BASE=python:3.11-slim
FROM ${PYTHON_BASE}

# Declared again to reach the label below (an ARG before FROM is out of scope after it).
ARG PYTHON_BASE
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=https://github.com/image-release/image-release
# Optional pip settings (unset means pip's defaults): a mirror, or a wheelhouse copied with the context.
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_NO_INDEX

LABEL org.opencontainers.image.title="image-release" \
      org.opencontainers.image.description="Release a container image from a git tag to a registry and a GitHub/GitLab release, as Invoke tasks." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="${PYTHON_BASE}"

SHELL ["/bin/sh", "-eu", "-c"]

# git: the tasks read tags and history from the checkout. The local base already carries it; a slim base
# gets it from its own Debian release.
# hadolint ignore=DL3008
RUN if ! command -v git >/dev/null 2>&1; then \
        apt-get update; \
        apt-get install -y --no-install-recommends git ca-certificates; \
        rm -rf /var/lib/apt/lists/*; \
    fi

# A venv: Debian's python3 refuses system-wide pip installs (PEP 668), and the venv keeps the tool apart.
ENV VIRTUAL_ENV=/opt/image-release \
    PATH=/opt/image-release/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

COPY . /tmp/image-release-src
RUN python3 -m venv "$VIRTUAL_ENV"; \
    pip install --no-cache-dir /tmp/image-release-src; \
    rm -rf /tmp/image-release-src; \
    image-release --list >/dev/null

RUN groupadd --system --gid 10001 release; \
    useradd --system --no-log-init --uid 10001 --gid release --create-home --home-dir /home/release release; \
    mkdir -p /workspace; \
    chown release:release /workspace; \
    git config --system --add safe.directory '*'

USER 10001:10001
WORKDIR /workspace
ENTRYPOINT ["image-release"]
CMD ["--list"]
