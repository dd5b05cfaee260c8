# The jwt_peer_auth image: Debian bookworm's NGINX (1.22) with the module's Debian package,
# set up like the official nginx image. Built offline by scripts/build-image.sh (no registry):
# BASE is a root filesystem it makes with mmdebstrap from Debian's packages and the local
# build/libnginx-mod-http-jwt-peer-auth_*.deb (docker/customize-rootfs.sh lays it out and trims
# it), imported as a local image; this file adds the configuration and the run settings:
#
#   podman build --pull=never --build-arg BASE=localhost/jwt-peer-auth-nginx-base:<version> \
#       -t jwt-peer-auth-nginx:<version> .
#
# scripts/test-image.sh runs the result (build/jwt-peer-auth-nginx.tar) as a user would.
ARG BASE=localhost/jwt-peer-auth-nginx-base:latest
FROM ${BASE}
ARG VERSION=unknown
ARG NGINX_VERSION=unknown
LABEL org.opencontainers.image.title="jwt-peer-auth-nginx" \
      org.opencontainers.image.description="Debian's NGINX with the jwt_peer_auth module" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      jwt-peer-auth.nginx-version="${NGINX_VERSION}"
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Loads the module and includes /etc/nginx/conf.d/*.conf (empty: no server until a user
# mounts one); logs go to /dev/stdout and /dev/stderr; workers run as nginx (uid 101).
COPY docker/nginx.conf /etc/nginx/nginx.conf
# Writes at run time: /run (nginx.pid), /var/lib/nginx (Debian's temp paths),
# /var/cache/nginx (caches a user configures), /tmp. With --read-only, mount tmpfs there.
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
