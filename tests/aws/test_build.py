"""The Lambda zips are reproducible and self-contained (no pydantic, no settings)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from readmission.aws.build import HANDLERS, PACKAGE_MODULES, build_zips, code_sha256, write_zips
from readmission.config import REPO_ROOT

pytestmark = pytest.mark.unit


def test_same_bytes_twice(tmp_path: Path) -> None:
    first = write_zips(tmp_path / "one")
    second = write_zips(tmp_path / "two")
    for action in HANDLERS:
        assert first[action].read_bytes() == second[action].read_bytes()
    assert build_zips() == build_zips()
    data = first["start"].read_bytes()
    assert code_sha256(data) == code_sha256(build_zips()["start"])


def test_zip_layout_is_fixed(tmp_path: Path) -> None:
    for action, handler in HANDLERS.items():
        path = write_zips(tmp_path)[action]
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
        names = [info.filename for info in infos]
        assert names == sorted([handler, *(f"readmission/{m}" for m in PACKAGE_MODULES)])
        assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
        assert {info.external_attr >> 16 for info in infos} == {0o100644}


def test_zipped_handler_runs_without_the_rest_of_the_package(tmp_path: Path) -> None:
    """Unzip the start function and run it, under moto, in a fresh interpreter."""
    with zipfile.ZipFile(write_zips(tmp_path)["start"]) as archive:
        archive.extractall(tmp_path / "fn")
    script = """
import json, sys
import boto3
from moto import mock_aws
with mock_aws():
    ec2 = boto3.client("ec2")
    spec = [{"ResourceType": "instance", "Tags": [{"Key": "Schedule", "Value": "mlops-data-api"}]}]
    iid = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                            TagSpecifications=spec)["Instances"][0]["InstanceId"]
    ec2.stop_instances(InstanceIds=[iid])
    import start_ec2_instance
    import readmission
    result = start_ec2_instance.handler({}, None)
    print(json.dumps({
        "result": result,
        "package": readmission.__file__,
        "config_loaded": "readmission.config" in sys.modules,
        "pydantic_loaded": "pydantic" in sys.modules,
    }))
"""
    env = {
        **os.environ,
        "PYTHONPATH": str(tmp_path / "fn"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "EC2_SCHEDULE_TAG": "Schedule=mlops-data-api",
    }
    env.pop("INSTANCE_IDS", None)
    env.pop("EC2_INSTANCE_IDS", None)
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["package"].startswith(str(tmp_path / "fn"))
    assert report["config_loaded"] is False
    assert report["result"]["statusCode"] == 200
    body = json.loads(report["result"]["body"])
    assert [i["previous_state"] for i in body["instances"]] == ["stopped"]


def test_make_lambdas_target_exists() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "\nlambdas:" in makefile
    assert "aws/scripts/build_lambdas.py" in makefile
