# impact-bot's container image: `impact-bot serve` as a non-root user, healthcheck on /healthz.
# Built from the pinned lock files (requirements/runtime.lock, plus azure.lock for traces to
# Application Insights). No secret is baked in: settings come from the environment at run time
# (deployment/README.md). Database migrations are a separate one-shot step:
#   docker run --rm --env-file bot.env impact-bot db upgrade
# BASE may name another Debian 12 image with python3 and python3-venv (the test suite builds on
# a locally made one, as this machine reaches no image registry).
ARG BASE=python:3.11.11-slim-bookworm

FROM ${BASE} AS build
ARG PIP_INDEX_URL=https://pypi.org/simple
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_INDEX_URL=${PIP_INDEX_URL}
WORKDIR /src
RUN python3 -m venv /opt/impact-bot
COPY requirements/runtime.lock requirements/azure.lock requirements/
RUN /opt/impact-bot/bin/pip install --no-deps -r requirements/azure.lock
COPY pyproject.toml README.md LICENSE ./
COPY alignment/ alignment/
COPY assessment/ assessment/
COPY bot/ bot/
COPY cli/ cli/
COPY framework/ framework/
COPY huddles/ huddles/
COPY impact/ impact/
COPY rounds/ rounds/
COPY scheduler/ scheduler/
COPY store/ store/
RUN /opt/impact-bot/bin/pip install --no-deps . \
    && /opt/impact-bot/bin/pip check

FROM ${BASE}
RUN groupadd --system --gid 10001 impact \
    && useradd --system --uid 10001 --gid impact --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin impact
COPY --from=build /opt/impact-bot /opt/impact-bot
# The Teams app's manifest template and icons, for `impact-bot package` run from the image.
COPY deployment/teams/manifest.json deployment/teams/color.png deployment/teams/outline.png \
     /app/deployment/teams/
WORKDIR /app
ENV PATH=/opt/impact-bot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=3978 \
    IMPACT_LOG_FORMAT=json
USER 10001:10001
EXPOSE 3978
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '3978') + '/healthz', timeout=4)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["impact-bot"]
CMD ["serve"]
