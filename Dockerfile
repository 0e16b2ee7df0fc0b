# syntax=docker/dockerfile:1
# One image for the mlops-gitops service and for the pipeline steps it
# submits (`python -m workflows.steps ...` in Argo Workflows), so a run uses
# exactly the code that scheduled it. Spark steps need a Java 17 runtime, and
# Spark on Kubernetes starts its driver and executor pods from this image too.
# The model server ships from the same build as its own target:
#   docker build -t mlops-gitops .                              (the service)
#   docker build --target model-server -t mlops-model-server .  (the model server)
# PYTHON_IMAGE is any Debian bookworm image with Python 3.11 (python3.11 and
# python3.11-venv); toolchain/images.sh builds one with debootstrap and passes it.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: resolve and install into a venv that the runtime copies whole ----
FROM ${PYTHON_IMAGE} AS build
# uv comes from PyPI, pinned, into a venv of its own that the runtime leaves behind.
ARG UV_VERSION=0.13.9
RUN python3.11 -m venv /opt/uv \
    && /opt/uv/bin/pip install --no-cache-dir "uv==${UV_VERSION}"
ENV PATH=/opt/uv/bin:$PATH \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never
WORKDIR /src
RUN uv venv --python python3.11 /opt/venv
# Dependencies first: this layer is reused until pyproject.toml changes. The package's metadata names
# README.md, which nothing in the image reads: an empty one keeps a documentation edit from rebuilding the image.
COPY pyproject.toml ./
RUN touch README.md
RUN --mount=type=cache,target=/root/.cache/uv \
    uv pip install --python /opt/venv/bin/python -r pyproject.toml
COPY core ./core
COPY triggers ./triggers
COPY listeners ./listeners
COPY workflows ./workflows
COPY gitops ./gitops
COPY services ./services
COPY mlops_gitops ./mlops_gitops
# The project itself goes to a prefix of its own, which the runtime lays over the venv as a layer of a few MB:
# a change of the code then leaves the dependencies' layer (GBs) as it is, in the build cache and on the nodes.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv pip install --python /opt/venv/bin/python --no-deps --prefix /opt/project . \
    && rm -f /opt/project/.lock

# --- spark-jars: the S3A connector, checksum-verified, for Spark's classpath ---
FROM ${PYTHON_IMAGE} AS spark-jars
COPY image/fetch_jars.py image/spark-jars.txt /tmp/
RUN python3.11 /tmp/fetch_jars.py /tmp/spark-jars.txt /jars

# --- runtime: no compilers, no uv; each target below drops to the app user ----
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# git: the GitOps write-back and the pipelines' checkout step drive the git CLI.
# Package versions come from the pinned Debian release (DL3008): exact pins
# would break the build with every Debian security update.
# /app belongs to the app user so the embedded SQLite ledger works under
# `docker run`; in Kubernetes the root filesystem is read-only anyway.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 app \
    && useradd --uid 10001 --gid app --home-dir /home/app --create-home --shell /usr/sbin/nologin app \
    && install -d -o app -g app /app
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/project/ /opt/venv/
WORKDIR /app
COPY --chown=app:app feature_repo ./feature_repo

# --- model server: python -m services.model_server, configured by its ConfigMap
FROM runtime AS model-server
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
CMD ["python", "-m", "services.model_server"]

# --- the service (default target): mlops-gitops serve, plus Java for Spark steps
# Spark runs from the pyspark install (its spark-submit, its jars directory as
# SPARK_HOME/jars, where the S3A connector joins it); the entrypoint starts
# Spark's driver and executor pods and runs any other command as given.
FROM runtime AS service
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/*
ENV SPARK_HOME=/opt/venv/lib/python3.11/site-packages/pyspark \
    PYSPARK_PYTHON=/opt/venv/bin/python \
    PYSPARK_DRIVER_PYTHON=/opt/venv/bin/python
COPY --from=spark-jars /jars/ ${SPARK_HOME}/jars/
COPY image/spark-entrypoint.sh /usr/local/bin/spark-entrypoint.sh
USER 10001:10001
# Listen on all interfaces inside the container; a mounted config may say otherwise.
ENV MLOPS_GITOPS_SERVER__HOST=0.0.0.0
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
ENTRYPOINT ["/usr/local/bin/spark-entrypoint.sh"]
CMD ["mlops-gitops", "serve"]
