"""The edges of the pipeline steps: a stopped EC2 source skips, the reload signal never fails a run."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from readmission import pipeline
from readmission.config import Settings
from tests.support.services import free_port

pytestmark = pytest.mark.dags


def test_a_stopped_ec2_source_skips_the_run_with_the_reason(monkeypatch, tmp_path) -> None:
    import boto3
    from moto import mock_aws

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        image = ec2.describe_images()["Images"][0]["ImageId"]
        instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        ec2.stop_instances(InstanceIds=[instance])
        settings = Settings(local_dir=tmp_path, ec2_instance_ids=instance, aws_region="us-east-1")
        with pytest.raises(pipeline.NothingToDo, match=f"outside its hours: EC2 {instance} is stopped"):
            pipeline.check_source(settings)


def test_a_down_inference_api_is_a_warning_not_a_failure(tmp_path, caplog) -> None:
    settings = Settings(local_dir=tmp_path, api_url=f"http://127.0.0.1:{free_port()}", api_admin_token="t")
    assert pipeline.signal_services(True, settings)["reloaded"] is False
    assert "not reached" in caplog.text


def test_the_reload_signal_carries_the_admin_token(tmp_path) -> None:
    seen: list[tuple[str, str | None]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append((self.path, self.headers.get("Authorization")))
            body = json.dumps({"old_version": "1", "new_version": "2"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        settings = Settings(local_dir=tmp_path, api_url=url, api_admin_token="secret-token")
        result = pipeline.signal_services(True, settings)
    finally:
        server.shutdown()
    assert result == {"reloaded": True, "answer": {"old_version": "1", "new_version": "2"}}
    assert seen == [("/reload-model", "Bearer secret-token")]
