#!/usr/bin/env bash
# Build a local Python base image for the tool's own Dockerfile, for machines that cannot pull one.
#
#   scripts/make-python-base.sh            # build (or reuse) image-release/python:3.11-local, print its name
#   scripts/make-python-base.sh --force    # rebuild even when the image exists
#
# The root filesystem is a Debian bookworm minbase made by debootstrap from the Debian mirror this machine's
# apt already uses (read from /etc/apt/sources.list*), with python3, python3-venv, pip, git and CA
# certificates, then imported with `docker import`. Debian bookworm's python3 is 3.11, like python:3.11-slim.
#
# Build the tool's image on it with:
#   docker build --build-arg PYTHON_BASE="$(scripts/make-python-base.sh)" -t image-release:dev .
#
# Settings (environment):
#   IR_PYTHON_BASE   image name (default image-release/python:3.11-local)
#   IR_BASE_SUITE    Debian suite (default bookworm)
#   IR_BASE_MIRROR   mirror URL (default: the first one apt uses for that suite)
#   IR_BASE_CACHE    folder for the rootfs tarball, reused when the image was removed
#                    (default /var/cache/image-release; set it empty to keep no tarball)
#   DOCKER_HOST      the engine, as for the docker CLI
# Needs root (debootstrap) and, when debootstrap is missing, apt-get to install it.
set -euo pipefail

IMAGE=${IR_PYTHON_BASE:-image-release/python:3.11-local}
SUITE=${IR_BASE_SUITE:-bookworm}
CACHE=${IR_BASE_CACHE-/var/cache/image-release}
PACKAGES=python3,python3-venv,python3-pip,ca-certificates,git
DOCKER=${DOCKER:-docker}
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1

say() { printf 'make-python-base: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# The mirror apt uses for $SUITE: deb822 files (URIs:/Suites:) and one-line files (deb URL SUITE ...).
apt_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # Paragraphs are separated by blank lines; print the URI of one whose Suites list has $SUITE alone.
    awk -v suite="$SUITE" '
      BEGIN { RS=""; FS="\n" }
      {
        uri=""; ok=0; deb=0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^Types:/ && $i ~ /(^|[ \t])deb([ \t]|$)/) deb=1
          if ($i ~ /^URIs:/) { split($i, a, /[ \t]+/); uri=a[2] }
          if ($i ~ /^Suites:/) { n=split($i, s, /[ \t]+/); for (j = 2; j <= n; j++) if (s[j] == suite) ok=1 }
        }
        if (deb && ok && uri != "") { print uri; exit }
      }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v suite="$SUITE" '
      $1 == "deb" {
        i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
        if ($(i + 1) == suite) { print $i; exit }
      }' "$f"
  done
}

if [ "$FORCE" = 0 ] && "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1; then
  say "$IMAGE exists; reusing it (--force rebuilds)"
  echo "$IMAGE"
  exit 0
fi

start=$(date +%s)
tarball=""
# The tarball's name carries the package list, so a changed list never reuses an old root filesystem.
[ -n "$CACHE" ] && tarball="$CACHE/python-base-$SUITE-$(printf '%s' "$PACKAGES" | sha256sum | cut -c1-12).tar"

if [ "$FORCE" = 1 ] || [ -z "$tarball" ] || [ ! -s "$tarball" ]; then
  [ "$(id -u)" = 0 ] || die "debootstrap needs root; run as root or sudo"
  if ! command -v debootstrap >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || die "debootstrap is missing and there is no apt-get to install it"
    say "installing debootstrap"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  MIRROR=${IR_BASE_MIRROR:-$(apt_mirror | head -n 1)}
  [ -n "$MIRROR" ] || die "no apt source for suite '$SUITE' in /etc/apt/sources.list*; set IR_BASE_MIRROR"
  keyring=()
  [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] && keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)

  rootfs=$(mktemp -d /tmp/image-release-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' EXIT
  say "debootstrap $SUITE (minbase + $PACKAGES) from $MIRROR"
  if ! debootstrap --variant=minbase "${keyring[@]}" --include="$PACKAGES" "$SUITE" "$rootfs" "$MIRROR" \
      >"$rootfs.log" 2>&1; then
    tail -n 30 "$rootfs.log" >&2
    die "debootstrap failed (full log: $rootfs.log)"
  fi
  rm -f "$rootfs.log"
  # Make it small and reproducible-ish: no package lists, no caches, no docs.
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/tmp/* \
    "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/*
  # The image has its own apt sources (the same mirror), so `apt-get update` works inside it.
  printf 'deb %s %s main\n' "$MIRROR" "$SUITE" >"$rootfs/etc/apt/sources.list"

  if [ -n "$tarball" ]; then
    mkdir -p "$CACHE"
    tar -C "$rootfs" --numeric-owner -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    src=$tarball
  else
    src=-
  fi
else
  say "reusing the cached root filesystem $tarball"
  src=$tarball
fi

import_it() {
  "$DOCKER" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    --message "Debian $SUITE minbase with python3 (scripts/make-python-base.sh)" \
    "$src" "$IMAGE" >/dev/null
}
if [ "$src" = - ]; then
  tar -C "$rootfs" --numeric-owner -c . | import_it
else
  import_it
fi

say "built $IMAGE in $(( $(date +%s) - start )) s"
echo "$IMAGE"
