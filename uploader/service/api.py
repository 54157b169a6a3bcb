"""The jobs API over HTTP: submit a manifest, watch its job, fetch its report, cancel it.

Routes (all JSON; every one but `/healthz` needs a bearer token, see auth.py):

    POST /v1/jobs                  a manifest in the body -> 201 and the job (200: the same
                                   Idempotency-Key's job); 400 with every problem; 413; 503
    GET  /v1/jobs                  newest first: ?state=, ?limit= (1..500), ?after=
    GET  /v1/jobs/{id}             state, counters, rate and limit, error, timestamps
    GET  /v1/jobs/{id}/report      the report `uploader run --report` writes (409 until done)
    POST /v1/jobs/{id}/cancel      drain the job as SIGINT would -> 202 and the job
    GET  /healthz, /readyz, /metrics, /v1/openapi.json

A manifest with any problem is refused (400, every `file:line: field: message` listed):
a job the service accepted is one it can do in full, and the client sees what to fix at
once, not in a failed job's report later. Asset paths resolve under the job's root (one
of `--root`; the first unless the request names another), never outside it.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from uploader.config import RunSettings
from uploader.domain import JobState
from uploader.errors import InvalidInputError
from uploader.filters import manifest_entries
from uploader.manifest import Problem
from uploader.service.jobs import Job
from uploader.service.openapi import openapi
from uploader.service.state import ServiceState

MANIFEST_NAMES: Final = {
    "application/json": "manifest.json",
    "application/yaml": "manifest.yaml",
    "application/x-yaml": "manifest.yaml",
    "text/yaml": "manifest.yaml",
    "application/x-ndjson": "manifest.jsonl",
    "application/jsonl": "manifest.jsonl",
}
# What a submission may set for its job; the rest are the service's settings.
JOB_FIELDS: Final = ("domain", "domain_owner", "repository", "namespace", "status")
MAX_PROBLEMS_SHOWN: Final = 1000
MAX_PAGE: Final = 500
STATE: Final = web.AppKey("state", ServiceState)


def add_routes(app: web.Application) -> None:
    """The service's routes, each named as the OpenAPI description names its operation."""
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/readyz", readyz, name="readyz")
    app.router.add_get("/metrics", metrics, name="metrics")
    app.router.add_get("/v1/openapi.json", openapi_json, name="openapi")
    app.router.add_post("/v1/jobs", submit, name="submitJob")
    app.router.add_get("/v1/jobs", list_jobs, name="listJobs")
    app.router.add_get("/v1/jobs/{id}", get_job, name="getJob")
    app.router.add_get("/v1/jobs/{id}/report", get_report, name="getReport")
    app.router.add_post("/v1/jobs/{id}/cancel", cancel_job, name="cancelJob")


def _error(status: type[web.HTTPException], message: str, **more: object) -> web.HTTPException:
    body = json.dumps({"error": message, **more})
    return status(text=body, content_type="application/json")


# --- health, metrics, description ------------------------------------------------------


async def healthz(_request: web.Request) -> web.Response:
    """Alive: the process answers (no auth, no checks)."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready: the store can be written, credentials resolve, the target answers."""
    problems = await request.app[STATE].readiness_problems()
    status = 503 if problems else 200
    return web.json_response({"ready": not problems, "problems": problems}, status=status)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition."""
    state = request.app[STATE]
    await state.refresh_job_counts()
    body, content_type = state.metrics_text()
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


async def openapi_json(_request: web.Request) -> web.Response:
    """This API's OpenAPI 3.1 description."""
    return web.json_response(openapi())


# --- jobs --------------------------------------------------------------------------------


async def submit(request: web.Request) -> web.Response:
    """Accept a manifest as a new job (or return the job its Idempotency-Key made)."""
    state = request.app[STATE]
    if state.scheduler.stopping:
        raise _error(web.HTTPServiceUnavailable, "the service is stopping: submit again later")
    body = await request.read()  # over the app's client_max_size: 413
    name, manifest, fields = _manifest_of(request.content_type, body)
    fields = {**_query_fields(request.query), **fields}
    root = state.root_for(fields.pop("root", None))
    staged = state.store.staging() / name
    staged.write_bytes(manifest)

    def job_settings(path: Path) -> dict[str, Any]:
        return _settings(state.base, path, root, fields).to_json()

    try:
        problems = await _problems(_settings(state.base, staged, root, fields), name)
    except InvalidInputError as error:
        shutil.rmtree(staged.parent, ignore_errors=True)
        raise _error(web.HTTPBadRequest, str(error)) from None
    if problems:
        shutil.rmtree(staged.parent, ignore_errors=True)
        raise _error(
            web.HTTPBadRequest, f"{name}: {len(problems)} problem(s)",
            problems=problems[:MAX_PROBLEMS_SHOWN], problem_count=len(problems),
        )  # fmt: skip
    job, new = await state.store.create(
        staged, job_settings, idempotency_key=request.headers.get("Idempotency-Key")
    )
    if new:
        state.scheduler.enqueue(job)
    location = request.app.router["getJob"].url_for(id=job.id)
    return web.json_response(
        state.job_json(job), status=201 if new else 200, headers={"Location": str(location)}
    )


def _manifest_of(content_type: str, body: bytes) -> tuple[str, bytes, dict[str, str]]:
    """The manifest's file name and bytes, and the job fields of a JSON envelope."""
    name = MANIFEST_NAMES.get(content_type)
    if name is None:
        raise _error(
            web.HTTPUnsupportedMediaType,
            f"Content-Type {content_type!r}: expected one of {', '.join(sorted(MANIFEST_NAMES))}",
        )
    if name != "manifest.json":
        return name, body, {}
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return name, body, {}  # the manifest reader says where it is broken
    if not (isinstance(document, dict) and "manifest" in document):
        return name, body, {}
    return _envelope(document)


def _envelope(document: dict[str, Any]) -> tuple[str, bytes, dict[str, str]]:
    """`{"manifest": ..., "domain": ..., ...}`: the manifest as a document, a list of
    entries, or text (`"format": "jsonl" | "yaml" | "json"`)."""
    fields: dict[str, str] = {}
    for key, value in document.items():
        if key in (*JOB_FIELDS, "root"):
            if not isinstance(value, str):
                raise _error(web.HTTPBadRequest, f"{key}: must be a string")
            fields[key] = value
        elif key not in ("manifest", "format"):
            raise _error(web.HTTPBadRequest, f"{key}: not a field of a job submission")
    manifest = document["manifest"]
    if isinstance(manifest, list):
        manifest = {"versions": manifest}
    if isinstance(manifest, dict):
        # One key a line, so that a problem's line points somewhere useful.
        return "manifest.json", json.dumps(manifest, indent=1).encode(), fields
    if not isinstance(manifest, str):
        raise _error(web.HTTPBadRequest, "manifest: must be an object, a list or a string")
    formats = {"jsonl": "manifest.jsonl", "yaml": "manifest.yaml", "json": "manifest.json"}
    kind = document.get("format", "jsonl")
    if kind not in formats:
        raise _error(web.HTTPBadRequest, f"format: {kind!r} is not one of jsonl, yaml, json")
    return formats[kind], manifest.encode(), fields


def _query_fields(query: Mapping[str, str]) -> dict[str, str]:
    unknown = sorted(set(query) - {*JOB_FIELDS, "root"})
    if unknown:
        raise _error(web.HTTPBadRequest, f"{unknown[0]}: not a field of a job submission")
    return dict(query)


def _settings(base: RunSettings, manifest: Path, root: Path, fields: dict[str, str]) -> RunSettings:
    """The job's settings: the service's, its own manifest, journal and report, the
    submission's defaults for its entries."""
    values = base.to_json()
    values.update(fields)
    values.update(
        manifest=str(manifest), asset_root=str(root), allow_outside=False,
        journal=str(manifest.parent / "journal.sqlite"),
        report=str(manifest.parent / "report.json"), progress=False, processes=1,
    )  # fmt: skip
    return RunSettings.from_json(values)


async def _problems(settings: RunSettings, name: str) -> list[str]:
    """Every problem of the staged manifest, named as the client named nothing: `name`."""

    def read() -> list[str]:
        return [
            str(replace(entry, place=replace(entry.place, file=name)))
            for entry in manifest_entries(settings)
            if isinstance(entry, Problem)
        ]

    return await asyncio.to_thread(read)


async def list_jobs(request: web.Request) -> web.Response:
    """Jobs newest first, a page at a time."""
    state = request.app[STATE]
    wanted = request.query.get("state")
    try:
        job_state = None if wanted is None else JobState(wanted)
        limit = int(request.query.get("limit", "50"))
    except ValueError:
        raise _error(web.HTTPBadRequest, "state or limit: not a job state or a number") from None
    if not 1 <= limit <= MAX_PAGE:
        raise _error(web.HTTPBadRequest, f"limit: must be 1 to {MAX_PAGE}")
    page = await state.store.page(state=job_state, limit=limit, after=request.query.get("after"))
    return web.json_response({"jobs": [state.job_json(j) for j in page.jobs], "next": page.next})


async def _job(request: web.Request) -> Job:
    job = await request.app[STATE].store.get(request.match_info["id"])
    if job is None:
        raise _error(web.HTTPNotFound, f"no job {request.match_info['id']!r}")
    return job


async def get_job(request: web.Request) -> web.Response:
    """One job as it stands."""
    return web.json_response(request.app[STATE].job_json(await _job(request)))


async def get_report(request: web.Request) -> web.StreamResponse:
    """The job's JSON report, once its run ended."""
    job = await _job(request)
    if job.state in (JobState.QUEUED, JobState.RUNNING) or not job.report_path.exists():
        raise _error(web.HTTPConflict, f"job {job.id} is {job.state}: no report yet")
    return web.FileResponse(job.report_path, headers={"Content-Type": "application/json"})


async def cancel_job(request: web.Request) -> web.Response:
    """Cancel: a queued job at once, a running one drained (as SIGINT drains `run`)."""
    state = request.app[STATE]
    job = await _job(request)
    if not job.state.finished:
        job = await state.scheduler.cancel(job)
    return web.json_response(state.job_json(job), status=202)
