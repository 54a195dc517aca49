"""moto_server (S3 API, in memory) with the buckets of S3_BUCKETS (comma-separated) created at start."""

from __future__ import annotations

import logging
import os
import signal
import threading

import boto3
from moto.server import ThreadedMotoServer

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("s3")


def main() -> None:
    host, port = os.environ.get("S3_HOST", "0.0.0.0"), int(os.environ.get("S3_PORT", "9000"))  # noqa: S104
    server = ThreadedMotoServer(ip_address=host, port=port)
    server.start()
    client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "moto"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "moto"),
    )
    for bucket in filter(None, (name.strip() for name in os.environ.get("S3_BUCKETS", "").split(","))):
        client.create_bucket(Bucket=bucket)
        log.info("bucket %s created", bucket)
    log.info("moto_server listening on %s:%d", host, port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
