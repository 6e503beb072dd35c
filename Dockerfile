# The pricing service image: `siterisk` with the locked runtime dependencies, no model.
# The model is fetched from the MLflow registry when the service starts
# (MLFLOW_TRACKING_URI, SITERISK_MODEL_URI), so one image serves every model version.
#
#   docker build -t site-risk:0.1.0 .
#   docker run --rm -p 8000:8000 -e MLFLOW_TRACKING_URI=http://mlflow:5000 \
#     -e DATABASE_URL=postgresql+psycopg://… -e SITERISK_KEY_PEPPER=… site-risk:0.1.0
#
# Builder and runtime share one base image (the virtual environment is copied across
# and points at its /usr/local/bin/python3.11), named once here. The tag fixes Python's
# minor version and the Debian release; for byte-for-byte reproducible builds append
# the digest your registry reports (python:3.11-slim-trixie@sha256:…).
FROM python:3.11-slim-trixie AS base

FROM base AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
RUN python -m venv /opt/venv

# Runtime dependencies only (not the dev extras), at the versions in requirements.lock,
# in a layer of their own so that a code change does not reinstall them. Every one of
# them ships manylinux wheels, so no compiler is needed even here.
COPY pyproject.toml requirements.lock ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > runtime-requirements.txt \
    && /opt/venv/bin/pip install --constraint requirements.lock --requirement runtime-requirements.txt

COPY README.md ./
COPY models ./models
COPY service ./service
COPY training ./training
COPY siterisk ./siterisk
RUN /opt/venv/bin/pip install --no-deps --constraint requirements.lock . \
    && /opt/venv/bin/pip check


FROM base AS runtime

LABEL org.opencontainers.image.title="site-risk" \
      org.opencontainers.image.description="Prices construction-site safety-liability insurance from smart-site data" \
      org.opencontainers.image.licenses="Apache-2.0"

# LightGBM's wheel links against the system OpenMP runtime, which the slim image lacks.
# DL3008 (pin apt package versions) is ignored because Debian replaces a stable
# package's version with each security update, so a pinned version stops installing
# within weeks; the Debian release is pinned by the base image tag (or digest) instead.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install --yes --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

# A fixed, high UID/GID so Kubernetes can check runAsNonRoot and volumes can be owned
# by it; the two writable folders belong to it, everything else is read-only to it.
RUN groupadd --system --gid 10001 siterisk \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/siterisk \
        --no-create-home --shell /usr/sbin/nologin siterisk \
    && install --directory --owner 10001 --group 10001 --mode 0750 \
        /var/lib/siterisk /var/cache/siterisk

COPY --from=builder /opt/venv /opt/venv

# SITERISK_WORKERS: uvicorn worker processes. Each is a separate process with its own
# copy of the model, so use about one per CPU of the container's limit (the Helm chart
# sets 2 workers for a 2-CPU limit) and size memory per worker: about 350 MB of
# libraries plus the model, and about 75 MB for the supervisor.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    SITERISK_ENV=production \
    SITERISK_HOME=/var/lib/siterisk \
    SITERISK_MODEL_CACHE_DIR=/var/cache/siterisk/models \
    SITERISK_PORT=8000 \
    SITERISK_WORKERS=2

USER 10001:10001
WORKDIR /var/lib/siterisk
EXPOSE 8000

# Liveness only: the process answers HTTP. Whether a model is loaded and the database
# reachable is /health/ready's business (Kubernetes probes use both; Docker only this).
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/health/live' % os.environ.get('SITERISK_PORT', '8000'), timeout=4)"]

ENTRYPOINT ["siterisk"]
CMD ["serve", "--host", "0.0.0.0"]
