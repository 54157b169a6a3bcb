"""Routes and error statuses, read from botocore's CodeArtifact service model.

The model (`botocore/data/codeartifact/2018-09-22/service-2.json`) says each operation's
HTTP method and request URI (`http.method`, `http.requestUri`) and each error shape's
HTTP status (`error.httpStatusCode`); the emulator reads both from it instead of
copying them. Every operation of the model gets a route named after it: the ones the
emulator implements run their handler, the others answer `NotImplementedException`
naming the operation, so a client learns the emulator lacks it rather than that the
service has no such thing.

Two error codes are the emulator's own, not the model's:

    UnknownOperationException  404: no operation of the model at this method and path
                               (what AWS's front end answers there too)
    NotImplementedException    501: an operation of the model the emulator does not
                               serve; 501 because no SDK retries it (botocore retries
                               500, 502, 503, 504), unlike a 5xx that looks transient
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

import botocore.loaders
import botocore.model

SERVICE: Final = "codeartifact"
UNKNOWN_OPERATION: Final = "UnknownOperationException"
NOT_IMPLEMENTED: Final = "NotImplementedException"
EMULATOR_STATUSES: Final = {UNKNOWN_OPERATION: 404, NOT_IMPLEMENTED: 501}


@dataclass(frozen=True)
class Route:
    """Where the model places an operation: `POST /v1/package/version/publish`."""

    operation: str
    method: str
    path: str


@functools.cache
def service_model() -> botocore.model.ServiceModel:
    """CodeArtifact's model as the installed botocore ships it (loaded once)."""
    loader = botocore.loaders.create_loader()
    return botocore.model.ServiceModel(loader.load_service_model(SERVICE, "service-2"), SERVICE)


@functools.cache
def model_routes() -> dict[str, Route]:
    """Operation name -> its route, for every operation of the model."""
    model = service_model()
    return {name: _route(model.operation_model(name)) for name in model.operation_names}


def _route(operation: botocore.model.OperationModel) -> Route:
    # Query members are bound by name, not by the URI: only the path part routes.
    path, _, _ = str(operation.http["requestUri"]).partition("?")
    return Route(operation.name, str(operation.http["method"]), path)


def places(operations: Collection[str]) -> dict[tuple[str, str], str]:
    """(method, path) -> operation name, for the given operations of the model."""
    return {
        (r.method, r.path): r.operation
        for r in model_routes().values()
        if r.operation in operations
    }


@functools.cache
def error_statuses() -> dict[str, int]:
    """Error code -> HTTP status: the model's error shapes, then the emulator's own codes."""
    statuses = {
        shape.name: int(shape.metadata["error"]["httpStatusCode"])
        for shape in service_model().error_shapes
    }
    return {**statuses, **EMULATOR_STATUSES}


def status_for(code: str) -> int:
    """The HTTP status of an error code; KeyError for a code neither the model nor the
    emulator defines (a typo, caught by the tests rather than sent as a guess)."""
    return error_statuses()[code]
