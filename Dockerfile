# syntax=docker/dockerfile:1
# The Gateway: one image for every role; the command picks the role (default: the webserver).
#   docker run -e REDIS_URL=... IMAGE                              # webserver, API on GATEWAY_PORT (8080)
#   docker run -e REDIS_URL=... IMAGE node entrypoints/executor.ts  # any role: receiver, executor, consensus, sender, scheduler
# Node 24 runs the TypeScript sources directly (type stripping): there is no build step.

# Production dependencies only, from the lock file (layer reused until package*.json change).
# The `node` devDependency is left out: the image's own Node 24 runs the code. --omit=optional
# too: npm keeps dev packages that are also some dependency's optional peer ("devOptional":
# typescript via valibot, @types/koa via @ladjs/koa-views; npm/cli#7734). The only optional
# runtime package it drops is msgpackr-extract, which speeds up unpacking; bullmq only packs.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional

FROM node:24-bookworm-slim
# tini as PID 1: forwards SIGTERM to node (graceful stop) and reaps the sandbox processes.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
# A non-root user; /var/lib/gateway is its writable data dir (mount a volume there to keep an
# executor's NODE_KEY_FILE, i.e. its node identity, across restarts).
RUN groupadd --gid 10001 gateway \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /var/lib/gateway --shell /usr/sbin/nologin gateway \
 && mkdir -p /var/lib/gateway \
 && chown 10001:10001 /var/lib/gateway
ENV NODE_ENV=production \
    TZ=UTC \
    NODE_KEY_FILE=/var/lib/gateway/node.key \
    GATEWAY_DATA_DIR=/var/lib/gateway
WORKDIR /app
# Runtime only: no test/, bench/, deploy/ or scripts/; the code stays root-owned, read-only to the app.
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY lib ./lib
COPY entrypoints ./entrypoints
# The `gateway` command (node cli/main.ts): receipts, node init, and the Helm chart's Redis ACL file.
COPY cli ./cli
USER 10001:10001
EXPOSE 8080
# Liveness for every role, without curl: healthy when GET /healthz answers 200 on 127.0.0.1 at
# HEALTH_PORT (when set; else the role defaults 9101-9105 of lib/process.ts) or at the
# webserver's GATEWAY_PORT (8080). Only the running role listens on one of them. Rule: keep
# HEALTH_PORT unset or fixed (not 0) and GATEWAY_HOST at 0.0.0.0 or 127.0.0.1.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD node -e "Promise.any(process.argv.slice(1).map((port) => fetch('http://127.0.0.1:' + port + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => { if (!r.ok) throw new Error(String(r.status)); }))).then(() => process.exit(0), () => process.exit(1))" ${HEALTH_PORT:-9101 9102 9103 9104 9105} ${GATEWAY_PORT:-8080}
ENTRYPOINT ["tini", "--"]
CMD ["node", "entrypoints/webserver.ts"]
