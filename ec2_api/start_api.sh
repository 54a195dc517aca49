#!/usr/bin/env bash
# Start the batch data API on this machine (EC2 user data, systemd, or by hand).
#   - with Docker: builds and starts the compose service (restart unless-stopped) and waits for /health;
#   - without Docker: serves from the checkout's .venv in the foreground (`make install` first).
# Settings: the repository's .env (see .env.example).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
compose=(docker compose -f "$here/docker-compose.yml")
env_port=""
if [ -f "$repo/.env" ]; then
    compose=(docker compose --env-file "$repo/.env" -f "$here/docker-compose.yml")
    env_port="$(sed -n 's/^DATA_API_PORT=//p' "$repo/.env" | tail -1)"
fi
port="${DATA_API_PORT:-${env_port:-5001}}"

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    "${compose[@]}" up -d --build
    for _ in $(seq 1 120); do
        if curl -fsS "http://127.0.0.1:${port}/health" >/dev/null 2>&1; then
            echo "data API ready on port ${port}"
            exit 0
        fi
        sleep 1
    done
    echo "data API not healthy after 120 s; logs:" >&2
    "${compose[@]}" logs --tail 50 >&2
    exit 1
fi

if [ ! -x "$repo/.venv/bin/readmission" ]; then
    echo "neither Docker nor $repo/.venv is available: run 'make install' in $repo" >&2
    exit 1
fi
cd "$repo"
exec "$repo/.venv/bin/readmission" data-api "$@"
