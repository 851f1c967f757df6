"""What the published OpenAPI schema says that FastAPI cannot infer: problem answers, the CloudEvents body.

FastAPI documents a route's success and its own 422 (as `application/json`, which ours is not). Each
router here lists the problems its routes can answer, as `application/problem+json` with the schema
of api/problems.py, so a client (and schemathesis, tests/api/test_openapi_contract.py) reads every
status the API really sends.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from api.problems import ProblemDetails

PROBLEM_JSON = "application/problem+json"
MEANINGS = {
    400: "The body or a header cannot be read (not JSON, not UTF-8, not the shape documented)",
    401: "No API key, or not a valid one: `Authorization: Bearer <tenant API key>`",
    404: "Nothing by that name in this tenant",
    413: "The body, or one event in it, is over the limit",
    409: "Not possible as the engine is set up (a provider it needs is not configured)",
    415: "Not a media type this route reads",
    422: "Fields that are invalid, each named in `errors`",
    503: "The store or the workflow engine does not answer: retry after `Retry-After` seconds",
}


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its `$defs` written in place, to embed where no component is."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


PROBLEM_SCHEMA = inline_schema(ProblemDetails)


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a router or route: each status a problem+json with its schema."""
    found: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        found[status] = {
            "description": MEANINGS[status],
            "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}},
        }
        if status == 503:
            retry = {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}
            found[status]["headers"] = {"Retry-After": retry}
    return found


# Every route a backend calls with its tenant key.
TENANT_PROBLEMS = problems(401, 422, 503)
