# reportc in a container: Debian slim, Pango with HarfBuzz subsetting, fonts, and reportc
# installed from this checkout, running as a non-root user with reportc as entrypoint.
#
#   docker build -t reportc .
#   docker run --rm -v "$PWD:/project" --env-file repos.env reportc build
#
# The project is mounted at /project (the working directory); credentials come from the
# environment (--env-file, or the orchestrator's secrets), never from the image.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Debian's own package versions for this release are what is tested: not pinned one by one.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 \
        fonts-dejavu-core fonts-liberation2 fontconfig \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY pyproject.toml README.md LICENSE CHANGELOG.md MANIFEST.in ./
COPY compiler ./compiler
COPY schema ./schema
COPY sections ./sections
COPY templates ./templates
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin reportc \
    && mkdir -p /project \
    && chown reportc:reportc /project

USER 10001:10001
WORKDIR /project
ENTRYPOINT ["reportc"]
CMD ["--help"]
