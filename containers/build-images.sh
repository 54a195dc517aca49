#!/usr/bin/env bash
# Build the platform's images with podman, on the Debian-built base (build-base.sh), here where no
# registry is reachable. Cache-friendly: podman's layer cache and uv's download cache make a rebuild
# without changes take seconds; an existing base is kept.
#
#   containers/build-images.sh                      # every image
#   containers/build-images.sh data-api inference-api
#
# Images: readmission/<name>:${IMAGE_TAG:-latest}. The application Dockerfiles default to the
# official python:3.11 slim image; here BASE_IMAGE points them at the Debian-built base.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"
export BASE_IMAGE="${BASE_IMAGE:-localhost/readmission/debian-python:bookworm}"
tag="${IMAGE_TAG:-latest}"
ca_bundle="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"

declare -A dockerfile=(
    [data-api]=ec2_api/Dockerfile
    [inference-api]=fastapi/Dockerfile
    [streamlit]=streamlit/Dockerfile
    [mlflow]=mlflow/Dockerfile
    [airflow]=dags/Dockerfile
    [locust]=locust/Dockerfile
    [mariadb]=containers/mariadb/Containerfile
    [s3]=containers/s3/Containerfile
    [prometheus]=containers/prometheus/Containerfile
)
all=(data-api inference-api streamlit mlflow airflow locust mariadb s3 prometheus)
names=("$@")
[ ${#names[@]} -gt 0 ] || names=("${all[@]}")

"$here/build-base.sh"

# Downloads inside a build (PyPI over TLS) trust the host's CA bundle, mounted read-only.
mounts=()
[ -f "$ca_bundle" ] && mounts=(--volume "$ca_bundle:/etc/ssl/certs/ca-certificates.crt:ro")

for name in "${names[@]}"; do
    file="${dockerfile[$name]:-}"
    [ -n "$file" ] || { echo "unknown image '$name' (one of: ${all[*]})" >&2; exit 2; }
    echo "build: readmission/$name:$tag ($file)"
    start=$SECONDS
    # --format docker keeps HEALTHCHECK (the OCI format drops it).
    log="$(mktemp)"
    if ! podman build --format docker --network host "${mounts[@]}" \
        --build-arg BASE_IMAGE="$BASE_IMAGE" \
        --file "$root/$file" --tag "readmission/$name:$tag" "$root" >"$log" 2>&1; then
        tail -n 60 "$log" >&2
        echo "build of readmission/$name failed (full log: $log)" >&2
        exit 1
    fi
    rm -f "$log"
    echo "build: readmission/$name:$tag done in $((SECONDS - start)) s"
done
