# voxpop server image: `voxpop serve` on port 8000 as an unprivileged user.
#
#   docker build -t voxpop .
#   docker run --env-file deploy/voxpop.env -p 8000:8000 voxpop
#
# The same image runs the outbox worker (`voxpop worker`) and migrations (`voxpop migrate`);
# deploy/compose.yaml shows a scaled-out layout. Settings come from VOXPOP_* variables
# (docs/settings.md); nothing is configured at build time.

FROM python:3.11-slim AS build
# The uv of scripts/setup; the lock file pins everything else.
RUN pip install --no-cache-dir uv==0.13.9
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/voxpop/.venv
WORKDIR /src
# Dependencies first (a layer that survives code changes), then voxpop itself.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project
COPY README.md ./
COPY src ./src
RUN uv sync --frozen --no-dev --no-editable

FROM python:3.11-slim
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /var/lib/voxpop voxpop
COPY --from=build /opt/voxpop/.venv /opt/voxpop/.venv
ENV PATH=/opt/voxpop/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    VOXPOP_LOG_FORMAT=json
USER voxpop
# A SQLite database (the default) and the dev secret live here; mount a volume to keep them.
WORKDIR /var/lib/voxpop
EXPOSE 8000
# uvicorn stops accepting on SIGTERM, /readyz answers 503, open requests get 10 s to finish.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)"]
CMD ["voxpop", "serve", "--host", "0.0.0.0", "--port", "8000"]
