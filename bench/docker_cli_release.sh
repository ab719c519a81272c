#!/usr/bin/env bash
# The baselines of the end-to-end benchmark: a release with the docker CLI only, written two ways.
#
#   bench/docker_cli_release.sh [--all-tags] REGISTRY/REPO vX.Y.Z NOTES_FILE [DOCKER_CLI]
#
# Default: the way the process document's GitLab job does it (shared/reference/process.zh.md,
#   "多标签发布"): build, `docker tag` four times, `docker push` four times.
# --all-tags: what a user who knows the CLI writes: one build with a `-t` per tag, then
#   `docker push --all-tags` (Docker 20.10 and later).
# Both then write the release notes to a file: image refs, the digest, `git log` since the previous tag.
#
# Runs in the project directory (Dockerfile and git repository there). DOCKER_CLI defaults to
# /usr/bin/docker (Debian's 20.10 client, which has BuildKit built in: DOCKER_BUILDKIT=1). The engine
# is the one DOCKER_HOST names.
set -euo pipefail
ALL_TAGS=0
if [ "${1:-}" = --all-tags ]; then ALL_TAGS=1; shift; fi
IMAGE_NAME=$1
CI_COMMIT_TAG=$2
NOTES=$3
DOCKER=${4:-/usr/bin/docker}

VERSION=${CI_COMMIT_TAG#v}
MAJOR_VERSION=$(echo "$VERSION" | cut -d. -f1)
MINOR_VERSION=$(echo "$VERSION" | cut -d. -f1-2)

if [ "$ALL_TAGS" = 1 ]; then
  DOCKER_BUILDKIT=1 "$DOCKER" build --network host -t "$IMAGE_NAME:$VERSION" -t "$IMAGE_NAME:$MINOR_VERSION" \
    -t "$IMAGE_NAME:$MAJOR_VERSION" -t "$IMAGE_NAME:latest" .
  "$DOCKER" push --all-tags "$IMAGE_NAME"
else
  IMAGE_TAG=$(git rev-parse --short HEAD)
  DOCKER_BUILDKIT=1 "$DOCKER" build --network host -t "$IMAGE_NAME:$IMAGE_TAG" .
  "$DOCKER" tag "$IMAGE_NAME:$IMAGE_TAG" "$IMAGE_NAME:$VERSION"
  "$DOCKER" tag "$IMAGE_NAME:$IMAGE_TAG" "$IMAGE_NAME:$MAJOR_VERSION"
  "$DOCKER" tag "$IMAGE_NAME:$IMAGE_TAG" "$IMAGE_NAME:$MINOR_VERSION"
  "$DOCKER" tag "$IMAGE_NAME:$IMAGE_TAG" "$IMAGE_NAME:latest"
  "$DOCKER" push "$IMAGE_NAME:$VERSION"
  "$DOCKER" push "$IMAGE_NAME:$MAJOR_VERSION"
  "$DOCKER" push "$IMAGE_NAME:$MINOR_VERSION"
  "$DOCKER" push "$IMAGE_NAME:latest"
fi

DIGEST=$("$DOCKER" image inspect --format '{{index .RepoDigests 0}}' "$IMAGE_NAME:$VERSION")
PREVIOUS=$(git describe --tags --abbrev=0 "$CI_COMMIT_TAG^" 2>/dev/null || true)
mkdir -p "$(dirname "$NOTES")"
{
  echo "## $IMAGE_NAME $VERSION"
  echo
  echo "Image: \`$DIGEST\`"
  echo
  for t in "$VERSION" "$MINOR_VERSION" "$MAJOR_VERSION" latest; do echo "- \`docker pull $IMAGE_NAME:$t\`"; done
  echo
  echo "### Changes"
  git log --format='- %s (%h)' "${PREVIOUS:+$PREVIOUS..}$CI_COMMIT_TAG"
} >"$NOTES"
