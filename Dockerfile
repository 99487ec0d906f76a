# ecs-gitops: the controller image that runs as its own Fargate service.
#
# Two stages on the same pinned base: `build` installs the package and its runtime
# dependencies (pinned by constraints.txt, without the dev and local extras: no moto) into
# a virtualenv at /opt/ecs-gitops; the final stage adds git and ssh (for git+https and
# git+ssh sources), copies that virtualenv, and runs `ecs-gitops run` as an unprivileged
# user. Configuration comes from ECS_GITOPS_* variables (the task definition sets
# ECS_GITOPS_SOURCE and friends). Size budget: 350 MB uncompressed (see README).
# tests/test_dockerfile.py lints this file and replays its install and entrypoint.

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/ecs-gitops
COPY pyproject.toml constraints.txt README.md ./
COPY controller/ controller/
RUN /opt/ecs-gitops/bin/pip install --no-cache-dir -c constraints.txt . \
    && /opt/ecs-gitops/bin/pip uninstall --yes pip setuptools

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="ecs-gitops" \
      org.opencontainers.image.description="GitOps controller for Amazon ECS" \
      org.opencontainers.image.licenses="Apache-2.0"
# Debian's own versions of git and ssh, from the pinned bookworm base: pinning them
# (hadolint DL3008) would break the build at each security update of bookworm.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 ecs-gitops \
    && useradd --system --uid 10001 --gid ecs-gitops --create-home \
       --home-dir /home/ecs-gitops --shell /usr/sbin/nologin ecs-gitops \
    && install -d -o ecs-gitops -g ecs-gitops /var/cache/ecs-gitops
COPY --from=build /opt/ecs-gitops /opt/ecs-gitops
ENV PATH=/opt/ecs-gitops/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ECS_GITOPS_HTTP_ADDR=0.0.0.0:8080 \
    ECS_GITOPS_LOG_FORMAT=json \
    ECS_GITOPS_LOG_LEVEL=info \
    ECS_GITOPS_CACHE_DIR=/var/cache/ecs-gitops
WORKDIR /home/ecs-gitops
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
USER 10001:10001
ENTRYPOINT ["ecs-gitops", "run"]
