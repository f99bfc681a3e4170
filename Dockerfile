# One image for every graphwiz service of docker-compose.yml (workers, beat, exporter, realtime,
# flower); each service picks its command. Build: docker compose build
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GRAPHWIZ_STATE_DIR=/var/lib/graphwiz

WORKDIR /app
COPY pyproject.toml README.md ./
COPY graphwiz_monitoring ./graphwiz_monitoring
COPY workers ./workers
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /var/lib/graphwiz --shell /usr/sbin/nologin graphwiz \
    && mkdir -p /var/lib/graphwiz \
    && chown graphwiz /var/lib/graphwiz

# Beat keeps its schedule file in GRAPHWIZ_STATE_DIR (a named volume in compose); nothing else is written.
USER graphwiz
WORKDIR /var/lib/graphwiz
EXPOSE 8000 8765 5555
CMD ["graphwiz-monitoring", "--help"]
