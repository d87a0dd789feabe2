# Image of the suite for docker-compose.yml: trytond with the six addons, sao
# and the Python and npm dependencies, installed by the project's own files.
FROM python:3.11-slim-bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir -e . \
    && npm ci --no-audit --no-fund \
    && bash -c 'source scripts/lib.sh && build_www'
ENV TRYTOND_CONFIG=/app/trytond.conf
EXPOSE 8000
# Alone (docker run), the image runs the server, the worker and the scheduler
# under the supervisor of run.sh; docker-compose.yml runs them as services.
CMD ["python", "scripts/supervise.py", "-c", "/app/trytond.conf", \
    "/app/docker/trytond.conf", "-d", "dualrec"]
