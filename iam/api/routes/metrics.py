"""`GET /metrics`: Prometheus's text format, of every worker of the server.

Open to the addresses `IAM_METRICS_ALLOW` lists (default: loopback only); anyone else needs
the credential of a system-account identity holding MetricsReader. With `IAM_METRICS_PORT`
it is served on that port only (`iam.api.app.RegistryIAM`).
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from iam.access import guard
from iam.api.deps import MetricsReader, RuntimeDep
from iam.errors import NotFound
from iam.metrics import exposition

PATH = "/metrics"
router = APIRouter(tags=["operations"])


@router.get(PATH, response_class=Response, responses={
    200: {"content": {"text/plain": {"schema": {"type": "string"}}},
          "description": "Prometheus text exposition format 0.0.4"},
    401: {"description": "not an allowed address, and no valid credential"},
    403: {"description": "the caller is no MetricsReader of the system account"},
    404: {"description": "metrics are turned off (IAM_METRICS_ENABLED=false)"}})
def read_metrics(runtime: RuntimeDep, reader: MetricsReader) -> Response:
    """The service's metrics: requests, token latency, tokens issued and refused, cache
    hits, limiter refusals, audit queue, database errors, build and schema."""
    if not runtime.metrics.enabled:
        raise NotFound("metrics are turned off (IAM_METRICS_ENABLED=false)")
    if reader is not None:
        with runtime.read() as session:
            guard.require_metrics_reader(session, runtime.roles, reader,
                                         system_account_id=runtime.system_account_id())
    return Response(exposition.render(runtime.metrics), media_type=exposition.CONTENT_TYPE)
