# uploader as a container: `docker run IMAGE run /data/manifest.jsonl ...`.
# Multi-stage: wheels for the project and its dependencies are built in the first stage
# (the same `pip` install the README gives, from pyproject.toml), and only they reach
# the slim runtime, which runs as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY uploader ./uploader
RUN python -m pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 uploader
COPY --from=build /wheels /wheels
RUN python -m pip install --no-cache-dir --no-index /wheels/*.whl && rm -rf /wheels
USER 10001
WORKDIR /home/uploader
# Containers get JSON log lines on stderr; progress bars only ever appear on a terminal.
ENV UPLOADER_LOG_FORMAT=json PYTHONUNBUFFERED=1
# SIGTERM (docker stop, Kubernetes) drains in-flight requests, flushes the journal, exits 130.
STOPSIGNAL SIGTERM
ENTRYPOINT ["uploader"]
CMD ["--help"]
