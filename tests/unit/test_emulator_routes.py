"""The emulator's routes and error statuses are botocore's model's, not copies of it."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from aiohttp import web

from uploader.emulator import app, faults, routes
from uploader.emulator.app import create_app
from uploader.emulator.errors import ApiError
from uploader.emulator.state import EmulatorState
from uploader.emulator.store import Store

EMULATOR_DIR = Path(app.__file__).parent
ERROR_CODE = re.compile(r"[A-Z][A-Za-z]+Exception")


@pytest.fixture(scope="module")
def model() -> Any:
    """botocore's CodeArtifact model, loaded through a session (not the emulator's loader)."""
    return botocore.session.get_session().get_service_model("codeartifact")


@pytest.fixture
def application(tmp_path: Path) -> Iterator[web.Application]:
    """The emulator's aiohttp application over an empty store (not served)."""
    store = Store(tmp_path)
    with ThreadPoolExecutor(1) as store_executor, ThreadPoolExecutor(1) as io_executor:
        yield create_app(EmulatorState(store, store_executor, io_executor))
    store.close()


def registered(application: web.Application) -> dict[str, tuple[str, str]]:
    """Route name -> (method, path) of every named route of the application."""
    return {
        r.name: (r.method, r.resource.canonical)
        for r in application.router.routes()
        if r.name is not None and r.resource is not None
    }


def raised_codes() -> set[str]:
    """Every error code named by a string literal in the emulator's modules (but `auth`:
    the app answers each of its AuthErrors as AccessDeniedException)."""
    codes: set[str] = set()
    for path in EMULATOR_DIR.glob("*.py"):
        if path.name == "auth.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            value = node.value if isinstance(node, ast.Constant) else None
            if isinstance(value, str) and ERROR_CODE.fullmatch(value):
                codes.add(value)
    return codes


def test_every_implemented_operation_is_routed_as_the_model_says(
    model: Any, application: web.Application
) -> None:
    """Each handled operation is served at its model's method and request URI, by name."""
    routes_by_name = registered(application)
    assert set(app.HANDLERS) <= set(model.operation_names)
    for operation in app.HANDLERS:
        http = model.operation_model(operation).http
        assert routes_by_name[operation] == (http["method"], http["requestUri"]), operation
        assert app.OPERATIONS[(http["method"], http["requestUri"])] == operation


def test_every_model_operation_has_a_route(model: Any, application: web.Application) -> None:
    """Operations the emulator lacks are routed too (to a not-implemented answer)."""
    assert set(registered(application)) == set(model.operation_names)


def test_every_error_code_raised_has_the_models_status(model: Any) -> None:
    """Each code the emulator sends replies with its error shape's HTTP status; only the
    emulator's own two codes are outside the model."""
    model_statuses = {s.name: s.metadata["error"]["httpStatusCode"] for s in model.error_shapes}
    codes = raised_codes()
    assert {"ConflictException", "ValidationException", "ThrottlingException"} <= codes
    for code in codes:
        status = ApiError(code, "m").response().status
        if code in model_statuses:
            assert status == model_statuses[code], code
        else:
            assert code in routes.EMULATOR_STATUSES, f"{code} is in neither the model nor ours"
            assert status == routes.EMULATOR_STATUSES[code]


def test_an_undefined_error_code_is_refused() -> None:
    """A code neither the model nor the emulator defines has no status (no guessing)."""
    with pytest.raises(KeyError):
        routes.status_for("TypoException")


def test_operation_tables_agree_with_quotas_and_faults() -> None:
    """The operations that quotas and fault specs may name are exactly those handled."""
    assert set(app.HANDLERS) == set(faults.OPERATIONS)
