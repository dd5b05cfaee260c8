# The official NGINX image with the jwt_peer_auth module.
#
#   docker build -t nginx-jwt-peer-auth .
#   docker run -d -p 443:443 \
#       -v $PWD/nginx-conf/netunnel-peer.conf:/etc/nginx/conf.d/netunnel-peer.conf:ro \
#       -v $PWD/certs:/etc/nginx/certs:ro nginx-jwt-peer-auth
#
# A dynamic module only loads into the NGINX version it was built for (NGINX refuses others:
# `module ... version 1028003 instead of ...`), and the image's nginx is configured
# --with-compat, so building against the plain source of the same version is enough. Both
# stages therefore take the one NGINX_VERSION; its default is the version the `nginx-src` crate
# vendors, which scripts/build.sh builds everywhere else (scripts/check-dockerfile.sh checks).
ARG NGINX_VERSION=1.28.3

# --- builder: the same Debian packages and the same scripts/build.sh as everywhere else ------
# bookworm: the module then needs glibc 2.36 at most, which every recent official image has.
FROM rust:1-bookworm AS builder
ARG NGINX_VERSION
WORKDIR /src
COPY scripts/deps.sh scripts/build.sh scripts/
RUN ./scripts/deps.sh
COPY Cargo.toml Cargo.lock build.rs ./
COPY src src
COPY core core
COPY ossl ossl
COPY tools/jwt-mint tools/jwt-mint
# NGX_VERSION makes the nginx-src crate download nginx-$NGINX_VERSION.tar.gz from nginx.org
# (and verify its signature with gpg) instead of using its vendored copy; the check after
# the build makes sure that the version really is $NGINX_VERSION.
RUN NGX_VERSION="$NGINX_VERSION" ./scripts/build.sh \
    && build/nginx -v 2>&1 | grep -qx "nginx version: nginx/$NGINX_VERSION"

# --- runtime: the official image, plus the module and a main configuration that loads it ----
FROM nginx:${NGINX_VERSION}
COPY --from=builder /src/build/ngx_http_jwt_peer_auth_module.so /usr/lib/nginx/modules/
COPY docker/nginx.conf /etc/nginx/nginx.conf
