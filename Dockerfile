# Ostrich relay image: a build stage with the toolchain and -dev packages,
# and a slim runtime stage with only the shared libraries the binary links
# (Debian 12 package names). The relay runs as an unprivileged user, keeps
# its SQLite database in the volume /var/lib/ostrich and reads
# /etc/ostrich/ostrich.toml (config/docker.toml: bind 0.0.0.0:7777, SQLite
# at /var/lib/ostrich/ostrich.db). Mount another file there to change it;
# docker-compose.yml mounts config/compose.toml for the OpenSearch backend.
#
#   docker build -t ostrich .
#   docker run -p 7777:7777 -v ostrich-data:/var/lib/ostrich ostrich

FROM debian:12-slim AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config \
        libsecp256k1-dev libwebsockets-dev libsqlite3-dev libcurl4-openssl-dev libssl-dev \
        zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release \
    && cmake --build build --target ostrich -j "$(nproc)"

FROM debian:12-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libsecp256k1-1 libwebsockets17 libsqlite3-0 libcurl4 libssl3 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# A fixed uid/gid, so a volume or bind mount can be given to it.
RUN groupadd --system --gid 10001 ostrich \
    && useradd --system --uid 10001 --gid ostrich --home-dir /var/lib/ostrich \
        --no-create-home --shell /usr/sbin/nologin ostrich \
    && install -d -o ostrich -g ostrich -m 0750 /var/lib/ostrich \
    && install -d -m 0755 /etc/ostrich
COPY --from=build /src/build/relay/ostrich /usr/local/bin/ostrich
COPY config/docker.toml /etc/ostrich/ostrich.toml
USER 10001:10001
WORKDIR /var/lib/ostrich
VOLUME ["/var/lib/ostrich"]
EXPOSE 7777
ENTRYPOINT ["ostrich", "--config", "/etc/ostrich/ostrich.toml"]
