"""moto constants and helpers shared by the AWS tests: the region, an AMI moto knows, tagged instances."""

from __future__ import annotations

REGION = "us-east-1"
AMI = "ami-12c6146b"
TAG = ("Schedule", "mlops-data-api")


def run_instance(ec2: object, tags: dict[str, str] | None = None) -> str:
    kwargs: dict[str, object] = {}
    if tags:
        tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
        kwargs["TagSpecifications"] = [{"ResourceType": "instance", "Tags": tag_list}]
    response = ec2.run_instances(  # type: ignore[attr-defined]
        ImageId=AMI, MinCount=1, MaxCount=1, InstanceType="t3.micro", **kwargs
    )
    return str(response["Instances"][0]["InstanceId"])


def states(ec2: object, ids: list[str]) -> dict[str, str]:
    response = ec2.describe_instances(InstanceIds=ids)  # type: ignore[attr-defined]
    return {i["InstanceId"]: i["State"]["Name"] for r in response["Reservations"] for i in r["Instances"]}
