# syntax=docker/dockerfile:1
# callcrew worker image: two stages, a virtualenv built in the first, copied into a slim runtime
# that runs as a non-root user. Build from the repository root:
#   docker build -t callcrew .
#   docker run --env-file .env --network host callcrew            # = callcrew start
# Extras (e.g. the local stack): docker build --build-arg EXTRAS=local -t callcrew .
# Dependencies come from uv.lock (exact versions); the layer that installs them is cached until
# pyproject.toml or uv.lock changes.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# --- build: install callcrew and its dependencies into /opt/venv ------------------------------
FROM ${PYTHON_IMAGE} AS build
ARG EXTRAS=""
ARG UV_VERSION=0.13.9
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /src
# The dependency layer: only pyproject.toml and uv.lock go in, so it is rebuilt when the locked
# versions change and never when the code does. --locked refuses a lock older than pyproject.
COPY pyproject.toml uv.lock ./
# The lock names the workspace's crews (crews/*): uv checks it against their pyproject files.
COPY crews/storyteller/pyproject.toml ./crews/storyteller/
RUN uv sync --locked --no-install-project --no-editable ${EXTRAS:+--extra "$EXTRAS"}
# Then callcrew itself (seconds), installed into the venv as a regular package.
COPY README.md ./
COPY src ./src
COPY agents ./agents
RUN uv sync --locked --no-editable ${EXTRAS:+--extra "$EXTRAS"}

# --- runtime -----------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PROMPTS_DIR=/app/prompts \
    DATABASE_URL=sqlite:////app/var/callcrew.db \
    REPORTS_DIR=/app/var/reports
RUN groupadd --system --gid 10001 callcrew \
    && useradd --system --uid 10001 --gid callcrew --home-dir /app --create-home callcrew
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=callcrew:callcrew prompts ./prompts
RUN mkdir -p /app/var/reports && chown -R callcrew:callcrew /app/var
USER 10001:10001
# Plugin model files are fetched now, at build time (the running worker never downloads).
RUN callcrew download-files
# The worker's health endpoint (`callcrew start` serves it on 8081, or on any free port with
# WORKER_PORT=0, as scaled replicas sharing the host network do): 200 "OK" while connected. The
# worker writes the port it got to HEALTH_PORT_FILE; the check falls back to 8081.
ENV HEALTH_PORT_FILE=/tmp/callcrew-health-port
EXPOSE 8081
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; f = os.environ['HEALTH_PORT_FILE']; p = open(f).read().strip() if os.path.exists(f) else '8081'; urllib.request.urlopen(f'http://127.0.0.1:{p}/', timeout=4)"]
ENTRYPOINT ["callcrew"]
CMD ["start"]
