# The glue image: model registry, serving agent, lifecycle controller and the kubeai CLI in one
# image (the pipeline's steps run `kubeai pipeline step ...` from it).
#
#   docker build -t ghcr.io/<owner>/kubeai-glue:<git sha> .      (BuildKit, the default builder)
#   registry:      python -m glue.model_registry --host 0.0.0.0 --port 8080   (the default command)
#   serving agent: python -m glue.serving_agent
#   controller:    python -m glue.controller
#
# The base image is pinned by its full version tag; CI (.github/workflows/ci.yml) pushes one tag
# per git sha and the charts require such a tag. No "latest" anywhere.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# ---- builder: wheels of the project (with the glue extra) and of every dependency -----------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY glue ./glue
# Every dependency of the glue extra ships binary wheels for linux/amd64 (checked with pip's
# --only-binary resolver), so no compiler is installed even here: only this project is built.
RUN pip wheel --prefer-binary --wheel-dir /wheels ".[glue]"

# ---- final: the installed wheels in a virtual environment, nothing else ---------------------
FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="kubeai-glue" \
      org.opencontainers.image.description="KubeAI glue services: model registry, serving agent, kubeai CLI" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    HOME=/tmp
# The wheels are bind-mounted from the builder for this step only, so they never form a layer.
# Installing with --no-index proves the builder produced every wheel; pip is removed afterwards.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-index --find-links=/wheels "kubeai-platform[glue]" \
 && /opt/venv/bin/pip uninstall --yes pip \
 && groupadd --gid 10001 kubeai \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin kubeai
WORKDIR /app
USER 10001
EXPOSE 8080
CMD ["python", "-m", "glue.model_registry", "--host", "0.0.0.0", "--port", "8080"]
