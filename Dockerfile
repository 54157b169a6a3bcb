# Multi-stage: build a wheel with its dependencies, install into a slim runtime as non-root.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY uploader ./uploader
RUN python -m pip install --no-cache-dir --upgrade pip \
 && python -m pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 uploader
COPY --from=build /wheels /wheels
RUN python -m pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER uploader
WORKDIR /home/uploader
# Containers get JSON log lines; progress bars only ever appear on a terminal.
ENV UPLOADER_LOG_FORMAT=json PYTHONUNBUFFERED=1
STOPSIGNAL SIGTERM
ENTRYPOINT ["uploader"]
CMD ["--help"]
