"""The jobs API's OpenAPI 3.1 description, served at `/v1/openapi.json`.

Kept beside the routes (api.py) and held to them by a test: every route is described,
and every described operation is a route.
"""

from __future__ import annotations

import functools
from typing import Any

from uploader import __version__
from uploader.domain import JobState

_JOB_STATES = [state.value for state in JobState]
_ERROR = {"$ref": "#/components/schemas/Error"}
_JOB = {"$ref": "#/components/schemas/Job"}


def _reply(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    if schema is None:
        return {"description": description}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _id() -> dict[str, Any]:
    return {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


_SUBMIT_FIELDS = {
    name: {"in": "query", "name": name, "required": False, "schema": {"type": "string"}}
    for name in ("domain", "domain_owner", "repository", "namespace", "status", "root")
}


@functools.cache
def openapi() -> dict[str, Any]:
    """The description (built once)."""
    unauthorized = _reply("No valid bearer token (WWW-Authenticate: Bearer).", _ERROR)
    return {
        "openapi": "3.1.0",
        "info": {"title": "uploader service", "version": __version__},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {"type": "string"},
                        "problems": {"type": "array", "items": {"type": "string"}},
                        "problem_count": {"type": "integer"},
                    },
                },
                "Job": {
                    "type": "object",
                    "required": ["id", "state", "created", "counters", "rate", "links"],
                    "properties": {
                        "id": {"type": "string"},
                        "state": {"enum": _JOB_STATES},
                        "created": {"type": "string", "format": "date-time"},
                        "started": {"type": ["string", "null"], "format": "date-time"},
                        "finished": {"type": ["string", "null"], "format": "date-time"},
                        "runs": {"type": "integer"},
                        "cancel_requested": {"type": "boolean"},
                        "settings": {"type": "object"},
                        "counters": {"type": "object"},
                        "rate": {
                            "type": "object",
                            "properties": {
                                "publishes_per_s": {"type": "number"},
                                "limit_per_s": {"type": "number"},
                            },
                        },
                        "error": {"type": ["string", "null"]},
                        "links": {"type": "object"},
                    },
                },
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            "/healthz": {
                "get": {
                    "operationId": "healthz",
                    "security": [],
                    "responses": {"200": _reply("The process is alive.")},
                }
            },
            "/readyz": {
                "get": {
                    "operationId": "readyz",
                    "responses": {
                        "200": _reply("Ready: store writable, credentials, target."),
                        "503": _reply("Not ready; `problems` says why."),
                        "401": unauthorized,
                    },
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "responses": {
                        "200": {
                            "description": "Prometheus text exposition.",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        "401": unauthorized,
                    },
                }
            },
            "/v1/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "responses": {"200": _reply("This description."), "401": unauthorized},
                }
            },
            "/v1/jobs": {
                "post": {
                    "operationId": "submitJob",
                    "parameters": [
                        *_SUBMIT_FIELDS.values(),
                        {
                            "in": "header",
                            "name": "Idempotency-Key",
                            "required": False,
                            "schema": {"type": "string"},
                        },
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"type": "object"}},
                            "application/yaml": {"schema": {"type": "string"}},
                            "application/x-ndjson": {"schema": {"type": "string"}},
                        },
                    },
                    "responses": {
                        "201": _reply("Accepted as a new job.", _JOB),
                        "200": _reply("The job this Idempotency-Key created before.", _JOB),
                        "400": _reply("The manifest or a field has problems.", _ERROR),
                        "401": unauthorized,
                        "413": _reply("The body is larger than --max-body-bytes."),
                        "415": _reply("Not a manifest's content type.", _ERROR),
                        "503": _reply("The service is stopping.", _ERROR),
                    },
                },
                "get": {
                    "operationId": "listJobs",
                    "parameters": [
                        {"in": "query", "name": "state", "schema": {"enum": _JOB_STATES}},
                        {
                            "in": "query",
                            "name": "limit",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                        },
                        {"in": "query", "name": "after", "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "200": _reply(
                            "Jobs, newest first; `next` continues the listing.",
                            {
                                "type": "object",
                                "properties": {
                                    "jobs": {"type": "array", "items": _JOB},
                                    "next": {"type": ["string", "null"]},
                                },
                            },
                        ),
                        "400": _reply("A bad filter.", _ERROR),
                        "401": unauthorized,
                    },
                },
            },
            "/v1/jobs/{id}": {
                "get": {
                    "operationId": "getJob",
                    "parameters": [_id()],
                    "responses": {
                        "200": _reply("The job.", _JOB),
                        "401": unauthorized,
                        "404": _reply("No such job.", _ERROR),
                    },
                }
            },
            "/v1/jobs/{id}/report": {
                "get": {
                    "operationId": "getReport",
                    "parameters": [_id()],
                    "responses": {
                        "200": _reply(
                            "The report `uploader run --report` writes.", {"type": "object"}
                        ),
                        "401": unauthorized,
                        "404": _reply("No such job.", _ERROR),
                        "409": _reply("The job has not ended: no report yet.", _ERROR),
                    },
                }
            },
            "/v1/jobs/{id}/cancel": {
                "post": {
                    "operationId": "cancelJob",
                    "parameters": [_id()],
                    "responses": {
                        "202": _reply("Cancelled, or draining.", _JOB),
                        "401": unauthorized,
                        "404": _reply("No such job.", _ERROR),
                    },
                }
            },
        },
    }
