# Dockerfile — roomstate images: the server (default), the relay and a migrate-only image,
# all from one build stage that runs exactly `make deps && make all`, the steps `make run`
# and `make test` use, so the image is built the way the tests build.
#
#   docker build -t roomstate-server .                      # default target: server
#   docker build --target relay   -t roomstate-relay .
#   docker build --target migrate -t roomstate-migrate .
#
# The base images default to local ones (localhost/debian:bookworm[-slim], made by
# tools/container-check.sh with debootstrap); elsewhere pass the public ones:
#   docker build --build-arg BUILD_IMAGE=debian:bookworm \
#                --build-arg RUNTIME_IMAGE=debian:bookworm-slim -t roomstate-server .
ARG BUILD_IMAGE=localhost/debian:bookworm
ARG RUNTIME_IMAGE=localhost/debian:bookworm-slim

# ---- build: the project's own steps -------------------------------------------------------
FROM ${BUILD_IMAGE} AS build
# `make` itself is the one thing `make deps` cannot install.
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The Makefile alone first: the dependency layer is rebuilt only when the Makefile changes.
COPY Makefile ./
RUN make deps && rm -rf /var/lib/apt/lists/*
COPY . .
RUN make deps && make all \
 && mkdir -p /out \
 && for b in roomstate-server roomstate-migrate roomstate-relay roomstate-token; do \
      if [ -x build/$b ]; then strip -o /out/$b build/$b; fi; \
    done \
 && ls -l /out

# ---- runtime base: only the shared libraries the binaries load ----------------------------
FROM ${RUNTIME_IMAGE} AS runtime
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libmicrohttpd12 libjansson4 libjwt0 libsqlite3-0 libwebsockets17 libwebsockets-evlib-ev \
      libcurl4 libssl3 libpq5 \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb \
 && groupadd --gid 10001 roomstate \
 && useradd --uid 10001 --gid 10001 --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin roomstate \
 && mkdir -p /data && chown roomstate:roomstate /data && chmod 0750 /data
COPY --from=build /out/ /usr/local/bin/
COPY deploy/docker-entrypoint.sh /usr/local/bin/roomstate-entrypoint
COPY deploy/healthcheck.sh /usr/local/bin/roomstate-healthcheck
# Fail the build, not the deployment, when a runtime library is missing.
RUN chmod 0755 /usr/local/bin/roomstate-entrypoint /usr/local/bin/roomstate-healthcheck \
 && ! ldd /usr/local/bin/roomstate-* 2>/dev/null | grep 'not found'
ENV ROOMSTATE_LISTEN=0.0.0.0:8080 \
    ROOMSTATE_RELAY_LISTEN=0.0.0.0:8090 \
    ROOMSTATE_DB=/data/roomstate.db
WORKDIR /data
USER roomstate:roomstate
ENTRYPOINT ["/usr/local/bin/roomstate-entrypoint"]

# ---- migrate only: `docker run --rm -v roomstate-data:/data roomstate-migrate [up|status|verify]`
FROM runtime AS migrate
VOLUME ["/data"]
CMD ["migrate", "up"]

# ---- relay: WebSocket authority relay on 8090 ---------------------------------------------
FROM runtime AS relay
EXPOSE 8090
HEALTHCHECK --interval=10s --timeout=4s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/roomstate-healthcheck", "relay"]
CMD ["relay"]

# ---- server (default target): migrate up, then serve on 8080 ------------------------------
FROM runtime AS server
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=4s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/roomstate-healthcheck", "server"]
CMD ["serve"]
