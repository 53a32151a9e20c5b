# syntax=docker/dockerfile:1.7
#
# lxcfs-kit images. One file, two targets:
#
#   docker buildx build --target agent   -t ghcr.io/lxcfs-kit/agent:<version>   .
#   docker buildx build --target webhook -t ghcr.io/lxcfs-kit/webhook:<version> .
#
# <version> is package.json's version; the release workflow passes it as VERSION
# and refuses to publish when the git tag says otherwise. Base images are pinned
# by version, and every stage that produces native code uses the same Debian
# release as the runtime stages, so lxcfs and the helper link against the glibc
# they run with.

ARG NODE_VERSION=20.20.2
ARG DEBIAN_CODENAME=bookworm
# lxcfs 6.0.x is the LTS line that still supports cgroup v1 and hybrid hosts
# (7.0 is cgroup v2 only); 6.0.6 fixes the CPU count in /proc/stat on cgroup v2.
ARG LXCFS_VERSION=6.0.6
# Optional pin of the release tarball; when empty the build prints the digest it
# fetched so it can be pinned here.
ARG LXCFS_SHA256=""

# ---------------------------------------------------------------------------
# node-build: compile the TypeScript and keep production dependencies only.
# The output is plain JavaScript with no native modules, so it is built once on
# the build machine's architecture and copied into every target architecture.
# The binaries' runtime dependencies are those of the app/ workspace: the root
# package is the cdk8s library and has none, so pruning the development
# dependencies leaves exactly what lib/cli.ts loads. app/package.json becomes
# /app/package.json (its paths are relative to /app); the workspace's own link
# in node_modules points outside /app and is dropped.
FROM --platform=$BUILDPLATFORM node:${NODE_VERSION}-${DEBIAN_CODENAME}-slim AS node-build
WORKDIR /src
COPY package.json package-lock.json ./
COPY app/package.json app/
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY lib/ lib/
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund --ignore-scripts \
 && rm node_modules/@lxcfs-kit/app \
 && mkdir -p /app \
 && cp -a build node_modules /app/ \
 && cp app/package.json /app/package.json \
 && chmod 0755 /app/build/lib/cli.js

# ---------------------------------------------------------------------------
# lxcfs-build: lxcfs from the upstream release tarball, with fuse3.
FROM node:${NODE_VERSION}-${DEBIAN_CODENAME}-slim AS lxcfs-build
ARG LXCFS_VERSION
ARG LXCFS_SHA256
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates curl gcc libc6-dev libfuse3-dev meson ninja-build pkg-config python3 python3-jinja2 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The release tarball as published by upstream on linuxcontainers.org, or the
# same asset of the GitHub release when that site is unreachable.
RUN { curl -fsSL --proto '=https' --tlsv1.2 --retry 3 -o lxcfs.tar.gz \
        "https://linuxcontainers.org/downloads/lxcfs/lxcfs-${LXCFS_VERSION}.tar.gz" \
      || curl -fsSL --proto '=https' --tlsv1.2 --retry 3 -o lxcfs.tar.gz \
        "https://github.com/lxc/lxcfs/releases/download/v${LXCFS_VERSION}/lxcfs-${LXCFS_VERSION}.tar.gz"; } \
 && echo "lxcfs-${LXCFS_VERSION}.tar.gz sha256 $(sha256sum lxcfs.tar.gz | cut -d' ' -f1)" \
 && if [ -n "${LXCFS_SHA256}" ]; then echo "${LXCFS_SHA256}  lxcfs.tar.gz" | sha256sum -c -; fi \
 && tar -xzf lxcfs.tar.gz --strip-components=1 \
 && rm lxcfs.tar.gz
# sysvinit: the init script is a plain file (systemd would need systemd's
# pkg-config data); nothing of it is kept, the agent is lxcfs's supervisor.
RUN meson setup build --prefix=/usr --buildtype=release \
      -Ddocs=false -Dtests=false -Dinit-script=sysvinit \
 && meson compile -C build \
 && DESTDIR=/out meson install -C build --no-rebuild \
 && rm -rf /out/etc /out/usr/share/lxc /out/usr/share/man \
 && /out/usr/bin/lxcfs --version

# ---------------------------------------------------------------------------
# helper-build: the native mount helper (open_tree + setns + move_mount).
FROM node:${NODE_VERSION}-${DEBIAN_CODENAME}-slim AS helper-build
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY lib/agent/native/ native/
RUN mkdir -p /out \
 && cc -O2 -Wall -Wextra -Werror -o /out/lxcfs-kit-remount native/*.c

# ---------------------------------------------------------------------------
# runtime-base: Node without its package managers. Neither image installs
# packages at run time, so npm, npx, yarn and corepack are dead weight and
# attack surface.
FROM node:${NODE_VERSION}-${DEBIAN_CODENAME}-slim AS runtime-base
RUN rm -rf /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/npx \
      /usr/local/bin/corepack /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-* \
 && ln -s /app/build/lib/cli.js /usr/local/bin/lxcfs-kit
ENV NODE_ENV=production
WORKDIR /app

# ---------------------------------------------------------------------------
# webhook: Node, the compiled code and production dependencies; non-root.
FROM runtime-base AS webhook
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="lxcfs-kit-webhook" \
      org.opencontainers.image.description="lxcfs-kit mutating admission webhook: injects LXCFS files into opted-in pods" \
      org.opencontainers.image.source="https://github.com/lxcfs-kit/lxcfs-kit" \
      org.opencontainers.image.url="https://github.com/lxcfs-kit/lxcfs-kit" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=node-build --chown=0:0 /app/ /app/
# 65532: the conventional "nonroot" id; no passwd entry needed, and a numeric
# id lets Kubernetes enforce runAsNonRoot.
USER 65532:65532
# A 4 MiB young generation keeps a busy webhook's resident memory near 80 MiB; a 96 MiB old
# generation keeps it under its memory limit with maximum-size requests in flight (WEBHOOK_NODE_OPTIONS).
ENV NODE_OPTIONS="--max-semi-space-size=4 --max-old-space-size=96"
EXPOSE 8443 9090
ENTRYPOINT ["node", "/app/build/lib/cli.js"]
CMD ["webhook"]

# ---------------------------------------------------------------------------
# agent: Node, the compiled code, lxcfs with the fuse3 runtime and the helper.
# It runs privileged in the DaemonSet (lxcfs mounts a FUSE filesystem and the
# helper enters other mount namespaces); it installs nothing on the host: the
# only thing it leaves there is the lxcfs mount at the configured host path.
FROM runtime-base AS agent
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG LXCFS_VERSION
RUN apt-get update \
 && apt-get install -y --no-install-recommends fuse3 libfuse3-3 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=lxcfs-build /out/usr/ /usr/
COPY --from=helper-build /out/lxcfs-kit-remount /usr/local/libexec/lxcfs-kit/lxcfs-kit-remount
COPY --from=node-build --chown=0:0 /app/ /app/
LABEL org.opencontainers.image.title="lxcfs-kit-agent" \
      org.opencontainers.image.description="lxcfs-kit node agent: runs LXCFS ${LXCFS_VERSION} and re-attaches stale lxcfs mounts in running containers" \
      org.opencontainers.image.source="https://github.com/lxcfs-kit/lxcfs-kit" \
      org.opencontainers.image.url="https://github.com/lxcfs-kit/lxcfs-kit" \
      org.opencontainers.image.licenses="Apache-2.0 AND LGPL-2.1-or-later" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
RUN lxcfs --version && test -x /usr/local/libexec/lxcfs-kit/lxcfs-kit-remount
# A small young generation, gc() for passes that did bulk work, one V8 background thread, and V8's
# memory-over-speed mode, which node accepts only on its command line (AGENT_NODE_OPTIONS and
# AGENT_NODE_FLAGS in lib/contract.ts).
ENV NODE_OPTIONS="--max-semi-space-size=1 --expose-gc --v8-pool-size=1"
EXPOSE 9479
ENTRYPOINT ["node", "--optimize-for-size", "/app/build/lib/cli.js"]
CMD ["agent"]
