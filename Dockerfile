# Switchback: one image for `switchback api`, `switchback worker` and `switchback project`
# (see docker-compose.yml and docs/deploy.md).

# the web UI, built with Node in its own stage (the final image runs no Node)
FROM node:20-slim AS ui
WORKDIR /src/ui
COPY ui/package.json ui/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY ui ./
RUN npm run build

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# only what the package needs (the build context also holds .venv, ui/node_modules, ...)
COPY pyproject.toml README.md ./
COPY journeys ./journeys
COPY engine ./engine
COPY projections ./projections
COPY api ./api
COPY --from=ui /src/api/static/ui ./api/static/ui
RUN pip install ".[distributed]" \
    && useradd --system --create-home --home-dir /var/lib/switchback switchback

USER switchback
WORKDIR /var/lib/switchback
EXPOSE 8000
ENTRYPOINT ["switchback"]
CMD ["--help"]
