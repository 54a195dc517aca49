"""Size of every image, built here with podman on the Debian-built base (containers/build-images.sh).

Builds what is missing (cached layers make it quick when nothing changed), then prints one line
per image: its size and, for the inference API, the goal (<= 700 MB).

    .venv/bin/python -m benchmarks.images [--no-build]
"""

from __future__ import annotations

import argparse
import logging

from tests.support import podman

IMAGES = ("data-api", "inference-api", "streamlit", "mlflow", "airflow", "locust", "mariadb", "s3", "prometheus")
GOALS_MB = {"inference-api": 700}
log = logging.getLogger("benchmarks.images")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-build", action="store_true", help="only measure the images that exist")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not args.no_build:
        podman.build(*IMAGES)
    base = podman.podman("image", "inspect", "--format", "{{.Size}}", podman.BASE_IMAGE).stdout.strip()
    log.info("%-28s %8.0f MB", podman.BASE_IMAGE.removeprefix("localhost/"), int(base) / 1e6)
    for name in IMAGES:
        if podman.podman("image", "exists", podman.image(name), check=False).returncode != 0:
            log.info("%-28s  (not built)", f"readmission/{name}")
            continue
        size_mb = podman.image_size(name) / 1e6
        goal = GOALS_MB.get(name)
        verdict = f"  goal <= {goal} MB: {'met' if size_mb <= goal else 'MISSED'}" if goal else ""
        log.info("%-28s %8.0f MB%s", f"readmission/{name}", size_mb, verdict)


if __name__ == "__main__":
    main()
