# syntax=docker/dockerfile:1
# The server image. Dependencies come from requirements/server.txt: exact versions with
# hashes, the ones `make test` tests (scripts/lock.sh); then the project with --no-deps.
# Python 3.11: what CI runs and the lock is resolved for (requires-python's floor).
FROM python:3.11-slim AS build
WORKDIR /src
COPY requirements/server.txt requirements/server.txt
RUN python -m venv /opt/mla \
 && /opt/mla/bin/pip install --no-cache-dir --require-hashes -r requirements/server.txt
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/mla/bin/pip install --no-cache-dir --no-deps .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /data mla && mkdir /data && chown mla /data
COPY --from=build /opt/mla /opt/mla
ENV PATH=/opt/mla/bin:$PATH \
    MLA_HOST=0.0.0.0 \
    MLA_PORT=8000 \
    MLA_DATA_DIR=/data \
    PYTHONUNBUFFERED=1
USER mla
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
  CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"MLA_PORT\"]}/health', timeout=2)"
# `mla serve` applies migrations, then serves (compose.yaml: a migration step, then replicas
# with --no-migrate, and `mla worker`).
CMD ["mla", "serve"]
