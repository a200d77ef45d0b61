# syntax=docker/dockerfile:1
# gpulease operator: the official Node.js 24 image, production dependencies only, non-root, and no
# write to the root filesystem (the operator writes nothing to disk).
# No HEALTHCHECK: Kubernetes ignores it; the Deployment's liveness and readiness probes (/healthz,
# /readyz on the metrics port) serve instead.
#
# `make image` builds this file with Docker, or with podman and a locally made base image where no
# Docker engine answers (hack/build-image.sh): keep the FROM lines on node:24-bookworm-slim.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The image already has Node 24: the `node` devDependency's install script is not needed here.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json

FROM node:24-bookworm-slim AS production-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=production-deps --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --chown=root:root package.json ./
# The image's unprivileged "node" user (uid 1000), matching runAsUser in config/manager.
USER 1000:1000
EXPOSE 8080
ENTRYPOINT ["node", "dist/main.js"]
CMD ["--config", "/etc/gpulease/operator-config.yaml"]
