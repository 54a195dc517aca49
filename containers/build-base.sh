#!/usr/bin/env bash
# Build the Debian bookworm base image (Python 3.11, like python:3.11-slim-bookworm) from
# Debian packages with mmdebstrap and import it into podman. No container registry is needed.
# Idempotent: an existing image is kept (FORCE=1 rebuilds it).
#
#   containers/build-base.sh            # -> localhost/readmission/debian-python:bookworm
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"
BASE_IMAGE="${BASE_IMAGE:-localhost/readmission/debian-python:bookworm}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DEBIAN_SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"

if [ "${FORCE:-0}" != 1 ] && podman image exists "$BASE_IMAGE"; then
    echo "base: $BASE_IMAGE exists (FORCE=1 rebuilds it)"
    exit 0
fi

workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
echo "base: mmdebstrap bookworm (python3, python3-venv, ca-certificates) ..."
# No documentation, manual pages or translations (copyright files stay): about 45 MB less.
mmdebstrap --quiet --variant=minbase \
    --include=python3,python3-venv,python-is-python3,ca-certificates \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    bookworm "$workdir/base.tar" \
    "deb $DEBIAN_MIRROR bookworm main" \
    "deb $DEBIAN_MIRROR bookworm-updates main" \
    "deb $DEBIAN_SECURITY_MIRROR bookworm-security main"
# An imported tarball has no configuration: give it the PATH and command of the official image.
podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    "$workdir/base.tar" "$BASE_IMAGE"
echo "base: imported $BASE_IMAGE"
