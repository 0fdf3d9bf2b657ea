"""`iam pull-secret`: a Kubernetes image pull secret holding a fresh, expiring API key of a
service ID that may only pull."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from iam.cli.app import app
from iam.cli.client import Api, Format, OutputOpt, emit, fail
from iam.cli.policies import _service_id

PULL_ROLES = {"Reader"}
_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """`30d`, `12h`, `90m`, `3600s` (or a bare number of seconds)."""
    if text.isdigit():
        return timedelta(seconds=int(text))
    match = _DURATION.fullmatch(text.strip())
    if match is None or int(match.group(1)) <= 0:
        fail(f"--expires-in {text!r} is not a duration such as 30d, 12h or 3600s")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def _pull_only(api: Api, iam_id: str) -> None:
    """Refuse a service ID whose policies, its own or its access groups', give more than
    Reader: the key would carry them."""
    held = [(policy, "") for policy in api.get_all("/v1/policies", iam_id=iam_id)]
    for group in api.get_all("/v1/groups", iam_id=iam_id):
        held += [(policy, f" through access group {group['name']!r}")
                 for policy in api.get_all("/v1/policies", access_group_id=group["id"])]
    for policy, through in held:
        service = policy["resource"].get("service")
        if service != "container-registry" or not set(policy["roles"]) <= PULL_ROLES:
            fail(f"the service ID holds policy {policy['id']}{through} ({service}: "
                 f"{', '.join(policy['roles'])}); a pull secret's key must only pull: give it "
                 "a service ID whose policies are container-registry Reader only")


def manifest(*, name: str, namespace: str | None, registry: str, apikey: str,
             key: dict[str, Any]) -> dict[str, Any]:
    auth = base64.b64encode(f"iamapikey:{apikey}".encode()).decode()
    config = {"auths": {registry: {"username": "iamapikey", "password": apikey,
                                   "auth": auth}}}
    metadata: dict[str, Any] = {"name": name, "annotations": {
        "registry-iam/apikey-id": key["id"], "registry-iam/expires-at": key["expires_at"]}}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "Secret", "metadata": metadata,
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": base64.b64encode(
                json.dumps(config, separators=(",", ":")).encode()).decode()}}


def as_yaml(secret: dict[str, Any]) -> str:
    meta = secret["metadata"]
    lines = ["apiVersion: v1", "kind: Secret", "metadata:", f"  name: {json.dumps(meta['name'])}"]
    if "namespace" in meta:
        lines.append(f"  namespace: {json.dumps(meta['namespace'])}")
    lines.append("  annotations:")
    lines += [f"    {k}: {json.dumps(v)}" for k, v in meta["annotations"].items()]
    lines += ["type: kubernetes.io/dockerconfigjson", "data:",
              f"  .dockerconfigjson: {secret['data']['.dockerconfigjson']}"]
    return "\n".join(lines)


@app.command("pull-secret")
def pull_secret(
    service_id: Annotated[str, typer.Option("--service-id", help="The service ID (id or name) "
                                            "whose new key the secret holds")],
    registry: Annotated[str, typer.Option("--registry", help="The registry host as pods name "
                                          "it, e.g. registry.example.com:5000")],
    expires_in: Annotated[str, typer.Option(help="The key's lifetime: 30d, 12h, 3600s")] = "30d",
    name: Annotated[str, typer.Option(help="The Secret's name")] = "iam-pull-secret",
    namespace: Annotated[str | None, typer.Option(help="The Secret's namespace")] = None,
    output: OutputOpt = Format.table,
) -> None:
    """Print a `kubernetes.io/dockerconfigjson` Secret with a fresh API key of a service ID
    that holds container-registry Reader only; the key expires after --expires-in. The
    key exists nowhere else: apply the manifest (`| kubectl apply -f -`), don't keep it."""
    api = Api()
    iam_id = _service_id(api, service_id)
    _pull_only(api, iam_id)
    expires_at = (datetime.now(UTC) + parse_duration(expires_in)).replace(microsecond=0)
    created = api.post("/v1/apikeys", {
        "name": f"pull-secret {registry}"[:256], "iam_id": iam_id,
        "description": f"image pull secret {name} for {registry}",
        "expires_at": expires_at.isoformat()})
    secret = manifest(name=name, namespace=namespace, registry=registry,
                      apikey=created["apikey"], key=created)
    if output == Format.json:
        emit(secret, output)
    else:
        typer.echo(as_yaml(secret))
