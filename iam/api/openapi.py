"""OpenAPI entries of the fast routes, which are served ahead of FastAPI's router
(`iam.api.app.RegistryIAM`) and so are not routes FastAPI could describe itself: written
from their declarations (`iam.api.fast_routes.FastRoute`), error bodies from the format
each speaks (`iam.api.errors.ErrorFormat`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, get_args

from pydantic import TypeAdapter

from iam.api.errors import Problem
from iam.api.fast_routes import COMMON_RESPONSES, FastRoute, Param
from iam.api.forms import URLENCODED

_REF = "#/components/schemas/{model}"


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _schema(param: Param) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if param.max_length is not None:
        schema["maxLength"] = param.max_length
    return {"type": "array", "items": schema} if param.repeated else schema


def _component(components: dict[str, Any], shape: Any) -> dict[str, Any]:
    """A reference to `shape`'s schema, added to the components unless FastAPI has it
    (`A | B`: either's)."""
    if alternatives := get_args(shape):
        return {"anyOf": [_component(components, a) for a in alternatives]}
    schema = TypeAdapter(shape).json_schema(ref_template=_REF)
    for name, nested in schema.pop("$defs", {}).items():
        components.setdefault(name, nested)
    components.setdefault(shape.__name__, schema)
    return {"$ref": _REF.format(model=shape.__name__)}


def operation(route: FastRoute, components: dict[str, Any]) -> dict[str, Any]:
    """The route's OpenAPI operation, from its declaration."""
    problem = _component(components, Problem)
    entry: dict[str, Any] = {"tags": [route.tag], "operationId": route.endpoint.__name__,
                             "summary": route.summary, "description": route.description}
    if route.query:
        entry["parameters"] = [
            {"name": p.name, "in": "query", "required": False, "schema": _schema(p),
             "description": p.description} for p in route.query]
    if route.form:
        entry["requestBody"] = {"required": True, "content": {URLENCODED: {"schema": {
            "type": "object", "properties": {p.name: _schema(p) for p in route.form}}}}}
    responses = {"200": _json(_component(components, route.ok), route.responses[200])}
    for status, description in sorted({**COMMON_RESPONSES, **route.responses}.items()):
        if status != 200:
            shapes = route.errors.schemas(status, problem)
            if not shapes:
                raise ValueError(f"{route.method} {route.path} documents {status}, which its "
                                 "error format never answers")
            responses[str(status)] = _json(
                shapes[0] if len(shapes) == 1 else {"anyOf": shapes}, description)
    entry["responses"] = responses
    return entry


def add_fast_routes(schema: dict[str, Any], routes: Iterable[FastRoute]) -> None:
    paths = schema.setdefault("paths", {})
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = operation(route, components)
