#!/usr/bin/env bash
# The Debian packages the test suite needs (called by `make test` and `.ci/run`); with --containers,
# also what `make test-containers` needs (podman with runc, its pod infra, rootless helpers,
# mmdebstrap for the Debian base image, podman-compose for docker-compose.yaml).
# Installs the missing ones with apt-get when running as root or with password-less sudo;
# otherwise prints the exact command to run and exits 1, before any test starts.
set -euo pipefail

need=()
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server mariadb-client)
command -v make >/dev/null 2>&1 || need+=(make)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
[ -x /usr/bin/prometheus-pushgateway ] || need+=(prometheus-pushgateway)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v kubectl >/dev/null 2>&1 || need+=(kubernetes-client)
if [ "${1:-}" = "--containers" ]; then
    for tool in podman runc catatonit newuidmap fuse-overlayfs slirp4netns mmdebstrap podman-compose; do
        package=$tool
        [ "$tool" = newuidmap ] && package=uidmap
        command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/bin/$tool" ] || [ -x "/usr/libexec/podman/$tool" ] || need+=("$package")
    done
fi

if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo)
else
    echo "The tests need these Debian packages: ${need[*]}" >&2
    echo "Install them, then run the tests again:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y --no-install-recommends ${need[*]}" >&2
    exit 1
fi

echo "installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}"
