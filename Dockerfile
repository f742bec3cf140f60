# syntax=docker/dockerfile:1
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m venv /opt/mla && /opt/mla/bin/pip install --no-cache-dir .

FROM python:3.12-slim
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
# `mla serve` applies migrations, then serves.
CMD ["mla", "serve"]
