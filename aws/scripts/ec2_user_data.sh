#!/bin/bash
# EC2 user data: install Docker and keep the batch data API (ec2_api/) running.
#
# Paste this file as the instance's user data (Amazon Linux 2023 or Ubuntu/Debian).
# Set ONE image source in the block below before launching:
#   DATA_API_IMAGE  an image built from ec2_api/Dockerfile and pushed to a registry
#                   (ECR, GHCR, Docker Hub); pulled at every start, or
#   REPO_URL        a git URL of this repository: the image is built on the instance
#                   with `docker build -f ec2_api/Dockerfile .` (REPO_REF selects the branch/tag).
# A systemd unit (Restart=always, enabled) starts the container at every boot: the
# instance is started and stopped every day by the scheduled Lambda functions.
# The admin token of POST /restart is generated once and kept in /etc/readmission/data-api.env
# (mode 0600); read it with SSM Session Manager or SSH. Nothing secret lives in this file.
set -euo pipefail

# ---- configuration (edit before launching)
DATA_API_IMAGE="${DATA_API_IMAGE:-}"
REPO_URL="${REPO_URL:-}"
REPO_REF="${REPO_REF:-main}"
DATA_API_PORT="${DATA_API_PORT:-5001}"
# ----

LOCAL_IMAGE="readmission-data-api:local"
DATA_API_UID=10001  # the container's user (ec2_api/Dockerfile: useradd --uid 10001): it writes the state directory
ROOT="${USER_DATA_ROOT:-}"  # empty on EC2; the tests run the script inside a temporary root
ENV_FILE=$ROOT/etc/readmission/data-api.env
STATE_DIR=$ROOT/var/lib/readmission/data-api
SRC_DIR=$ROOT/opt/readmission/src
UNIT=$ROOT/etc/systemd/system/readmission-data-api.service

log() { echo "[user-data] $*"; }  # lands in /var/log/cloud-init-output.log

if [[ -z "$DATA_API_IMAGE" && -z "$REPO_URL" ]]; then
  log "set DATA_API_IMAGE or REPO_URL at the top of the user data" >&2
  exit 1
fi

install_docker() {
  if command -v docker >/dev/null 2>&1; then
    return
  fi
  if command -v dnf >/dev/null 2>&1; then
    dnf install -y docker git
  elif command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -y
    apt-get install -y docker.io git
  else
    log "unsupported distribution: install Docker by hand" >&2
    exit 1
  fi
}

log "installing Docker"
install_docker
systemctl enable --now docker

install -d -m 0755 "$ROOT/etc/readmission" "$(dirname "$UNIT")"
# The container runs as UID 10001 and keeps its cycle file here: a root-owned folder would make it
# fail and restart forever. install -d also fixes the owner of a folder an older version created.
install -d -m 0750 -o "$DATA_API_UID" -g "$DATA_API_UID" "$STATE_DIR"
if [[ ! -s "$ENV_FILE" ]]; then
  umask 077
  {
    echo "ENVIRONMENT=production"
    echo "LOG_FORMAT=json"
    echo "DATA_API_HOST=0.0.0.0"
    echo "DATA_API_PORT=${DATA_API_PORT}"
    echo "DATA_API_STATE_DIR=/state"
    echo "DATA_API_ADMIN_TOKEN=$(openssl rand -hex 32)"
  } >"$ENV_FILE"
  chmod 0600 "$ENV_FILE"
fi

if [[ -n "$DATA_API_IMAGE" ]]; then
  IMAGE="$DATA_API_IMAGE"
  PREPARE="-/usr/bin/docker pull ${IMAGE}"
else
  IMAGE="$LOCAL_IMAGE"
  log "building ${IMAGE} from ${REPO_URL} (${REPO_REF})"
  rm -rf "$SRC_DIR"
  git clone --depth 1 --branch "$REPO_REF" "$REPO_URL" "$SRC_DIR"
  docker build -f "$SRC_DIR/ec2_api/Dockerfile" -t "$IMAGE" "$SRC_DIR"
  PREPARE="/usr/bin/true"
fi

cat >"$UNIT" <<UNIT_FILE
[Unit]
Description=Readmission batch data API (ec2_api) in Docker
After=docker.service network-online.target
Wants=network-online.target
Requires=docker.service

[Service]
Restart=always
RestartSec=5
TimeoutStartSec=600
ExecStartPre=-/usr/bin/docker rm -f readmission-data-api
ExecStartPre=${PREPARE}
ExecStart=/usr/bin/docker run --rm --name readmission-data-api --user ${DATA_API_UID}:${DATA_API_UID} \\
  --env-file ${ENV_FILE} -p ${DATA_API_PORT}:${DATA_API_PORT} \\
  -v ${STATE_DIR}:/state ${IMAGE}
ExecStop=/usr/bin/docker stop -t 20 readmission-data-api

[Install]
WantedBy=multi-user.target
UNIT_FILE

systemctl daemon-reload
systemctl enable --now readmission-data-api.service
log "data API unit enabled on port ${DATA_API_PORT}"
