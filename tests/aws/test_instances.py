"""Selection, start/stop and the Lambda handlers against moto's EC2."""

from __future__ import annotations

import json

import boto3
import pytest

from readmission.aws.instances import instance_state, start_instances, stop_instances
from readmission.aws.selection import (
    InstanceSelector,
    SelectionError,
    parse_ids,
    parse_tag,
    select_instances,
)
from tests.support.aws import REGION, states

pytestmark = pytest.mark.unit


def test_parse_tag_and_ids() -> None:
    assert parse_tag("Schedule=mlops-data-api") == ("Schedule", "mlops-data-api")
    assert parse_tag(" Env = a=b ") == ("Env", "a=b")
    for bad in ("Schedule", "=x", "Schedule=", ""):
        with pytest.raises(SelectionError):
            parse_tag(bad)
    assert parse_ids(" i-1, ,i-2 ") == ("i-1", "i-2")
    assert parse_ids("") == ()
    with pytest.raises(SelectionError):
        parse_ids("i-1,not an instance id")


def test_selector_from_env_prefers_ids() -> None:
    selector = InstanceSelector.from_env({"INSTANCE_IDS": "i-a,i-b", "EC2_SCHEDULE_TAG": "K=V"})
    assert selector.instance_ids == ("i-a", "i-b")
    assert (selector.tag_key, selector.tag_value) == ("K", "V")
    assert InstanceSelector.from_env({"EC2_INSTANCE_IDS": "i-c"}).instance_ids == ("i-c",)
    default = InstanceSelector.from_env({})
    assert default.instance_ids == ()
    assert default.tag == "Schedule=mlops-data-api"


def test_tag_selection_picks_only_tagged_live_instances(ec2, fleet) -> None:
    selector = InstanceSelector.build("", "Schedule=mlops-data-api")
    expected = sorted([fleet["scheduled_a"], fleet["scheduled_b"]])
    assert select_instances(ec2, selector) == expected
    ec2.terminate_instances(InstanceIds=[fleet["scheduled_b"]])
    assert select_instances(ec2, selector) == [fleet["scheduled_a"]]
    explicit = InstanceSelector.build(fleet["untagged"], "Schedule=mlops-data-api")
    assert select_instances(ec2, explicit) == [fleet["untagged"]]


def test_start_stop_return_transitions_and_tolerate_no_ops(ec2, fleet) -> None:
    target = fleet["scheduled_a"]
    stopped = stop_instances([target], ec2)
    assert [(t.instance_id, t.previous_state) for t in stopped] == [(target, "running")]
    assert instance_state(target, ec2) == "stopped"
    again = stop_instances([target], ec2)  # stopping a stopped instance is fine
    assert again[0].previous_state == "stopped"
    started = start_instances([target], ec2)
    assert started[0].as_dict() == {
        "instance_id": target,
        "previous_state": "stopped",
        "current_state": started[0].current_state,
    }
    assert instance_state(target, ec2) == "running"
    assert start_instances([], ec2) == []


def test_instance_state_creates_its_own_client(mocked_aws, fleet) -> None:
    assert instance_state(fleet["untagged"]) == "running"


def test_start_handler_by_tag_starts_only_scheduled(ec2, fleet, load_handler) -> None:
    everything = list(fleet.values())
    ec2.stop_instances(InstanceIds=everything)
    response = load_handler("start_ec2_instance").handler({}, None)
    assert response["statusCode"] == 200
    assert response["headers"] == {"Content-Type": "application/json"}
    body = json.loads(response["body"])
    assert body["action"] == "start"
    assert body["selector"] == "instances tagged Schedule=mlops-data-api"
    scheduled = sorted([fleet["scheduled_a"], fleet["scheduled_b"]])
    assert [item["instance_id"] for item in body["instances"]] == scheduled
    for item in body["instances"]:
        assert set(item) == {"instance_id", "previous_state", "current_state"}
        assert item["previous_state"] == "stopped"
    now = states(ec2, everything)
    assert {now[i] for i in scheduled} == {"running"}
    assert now[fleet["other_tag"]] == now[fleet["untagged"]] == "stopped"


def test_stop_handler_by_tag_stops_only_scheduled(ec2, fleet, load_handler) -> None:
    body = json.loads(load_handler("stop_ec2_instance").handler({}, None)["body"])
    assert body["action"] == "stop"
    assert len(body["instances"]) == 2
    now = states(ec2, list(fleet.values()))
    assert now[fleet["scheduled_a"]] == now[fleet["scheduled_b"]] == "stopped"
    assert now[fleet["other_tag"]] == now[fleet["untagged"]] == "running"
    # stopping again is not an error
    second = load_handler("stop_ec2_instance").handler({}, None)
    assert second["statusCode"] == 200
    assert {i["previous_state"] for i in json.loads(second["body"])["instances"]} == {"stopped"}


def test_handler_uses_instance_ids_env(ec2, fleet, load_handler, monkeypatch) -> None:
    monkeypatch.setenv("INSTANCE_IDS", fleet["untagged"])
    response = load_handler("stop_ec2_instance").handler({"source": "test"}, None)
    body = json.loads(response["body"])
    assert [i["instance_id"] for i in body["instances"]] == [fleet["untagged"]]
    now = states(ec2, list(fleet.values()))
    assert now[fleet["untagged"]] == "stopped"
    assert now[fleet["scheduled_a"]] == "running"


def test_unknown_instance_gives_clean_500(ec2, fleet, load_handler, monkeypatch, caplog) -> None:
    monkeypatch.setenv("INSTANCE_IDS", "i-0123456789abcdef0")
    response = load_handler("start_ec2_instance").handler({}, None)
    assert response["statusCode"] == 500
    body = json.loads(response["body"])
    assert body["action"] == "start"
    assert body["error"] == "InvalidInstanceID.NotFound"
    assert "i-0123456789abcdef0" in body["message"]
    assert any(r.levelname == "ERROR" for r in caplog.records)
    assert set(states(ec2, list(fleet.values())).values()) == {"running"}


def test_bad_selector_gives_clean_500(mocked_aws, load_handler, monkeypatch) -> None:
    monkeypatch.setenv("EC2_SCHEDULE_TAG", "no-equals-sign")
    response = load_handler("stop_ec2_instance").handler({}, None)
    assert response["statusCode"] == 500
    assert json.loads(response["body"])["error"] == "SelectionError"


def test_no_matching_instance_is_an_empty_success(mocked_aws, load_handler) -> None:
    boto3.client("ec2", region_name=REGION)
    response = load_handler("start_ec2_instance").handler({}, None)
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["instances"] == []
