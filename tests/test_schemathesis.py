"""Property-based tests of the whole admin API from its own `/openapi.json` (schemathesis).

Every operation gets up to `IAM_SCHEMATHESIS_EXAMPLES` valid and as many invalid generated
cases (default 12 each: about 1000 requests, ~30 s on SQLite), sent in process with the
account owner's bearer token so the authenticated paths run: no answer is a 5xx, every status
is documented and every body conforms to its documented schema.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from iam import bootstrap
from iam.api.app import create_app
from iam.config import Settings
from iam.store.db import migrate

EXAMPLES = int(os.environ.get("IAM_SCHEMATHESIS_EXAMPLES", "12"))
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data = tmp_path_factory.mktemp("schemathesis")
    conf = Settings(data_dir=data, database_url=f"sqlite:///{data / 'iam.db'}",
                    auth_max_failures=10_000)
    migrate(conf.db_url)
    result = bootstrap.initialize(conf)
    assert result.new_account is not None
    with TestClient(create_app(conf)) as client:
        client.app.state.owner_key = result.new_account.apikey  # type: ignore[attr-defined]
        yield client


@pytest.fixture(scope="module")
def owner_headers(app_client: TestClient) -> dict[str, str]:
    r = app_client.post("/identity/token", data={
        "grant_type": "urn:ibm:params:oauth:grant-type:apikey",
        "apikey": app_client.app.state.owner_key})  # type: ignore[attr-defined]
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _operations(client: TestClient) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    return [result.ok() for result in schema.get_all_operations()]


def _fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> int:
    """Run the operation's generated cases; how many were sent."""
    sent = 0

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        nonlocal sent
        sent += 1
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()
    return sent


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_conforms_to_its_schema(app_client: TestClient, mode: GenerationMode,
                                                owner_headers: dict[str, str]) -> None:
    """No 5xx, only documented status codes, bodies that match their documented schema."""
    failures, sent = [], 0
    operations = _operations(app_client)
    assert len(operations) > 40
    for operation in operations:
        try:
            sent += _fuzz(operation, mode, owner_headers)
        except Unsatisfiable:
            assert mode == GenerationMode.NEGATIVE  # nothing to get wrong (no parameters)
        except (Exception, BaseExceptionGroup) as exc:
            failures.append(f"{operation.label}: {str(exc)[:2000]}")
    assert not failures, "\n\n".join(failures)
    assert sent >= len(operations) * min(EXAMPLES, 5) // 2, sent
