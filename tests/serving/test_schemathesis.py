"""Property-based run of the OpenAPI schema with every schemathesis check: the API does what it documents.

Valid bodies (positive) and schema-violating ones (negative, for the routes that take a body) go
through all the checks (no server error, documented status codes, content types, headers and
bodies, invalid data rejected, valid data accepted, authentication enforced...).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS

from tests.support.serving import ADMIN_TOKEN

pytestmark = pytest.mark.integration

EXAMPLES_PER_OPERATION = 40


def test_schemathesis_with_all_checks_finds_nothing(client):
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    # More records than `maxItems` is refused with 413 (documented: MAX_BATCH_RECORDS), a rejection too
    rejection = schema.config.checks.negative_data_rejection
    expected = [*rejection.expected_statuses, 413]
    schema.config.checks.negative_data_rejection = type(rejection)(expected_statuses=expected)
    checks = CHECKS.get_all()
    assert {check.__name__ for check in checks} >= {
        "not_a_server_error", "status_code_conformance", "response_schema_conformance",
        "negative_data_rejection", "positive_data_acceptance", "ignored_auth",
    }  # fmt: skip
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/predict", "/predict/batch", "/reload-model", "/ready", "/model-info"}
    failures: dict[str, str] = {}
    for operation in operations:
        modes = [GenerationMode.POSITIVE]
        if operation.path.startswith("/predict"):  # routes with a body can be sent invalid data
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck),
            )  # fmt: skip
            def run(case) -> None:
                case.call_and_validate(checks=checks, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})

            try:
                run()
            except Exception as error:  # collect every operation's failure, not only the first
                failures[f"{operation.method.upper()} {operation.path} ({mode.value})"] = str(error)[:2000]
    assert failures == {}
