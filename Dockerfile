# Spoor's container image: build with the Rust toolchain, run on a slim
# Debian as the unprivileged user 10001, the store on a volume.
#
#   docker build -t spoor/spoor:0.1.0 .
#   docker run -p 16686:16686 -p 4317:4317 -p 4318:4318 -p 9411:9411 -v spoor-data:/var/lib/spoor spoor/spoor:0.1.0
#
# tests/deploy_dockerfile.rs checks this file against the binary: the ports
# exposed are the ones Spoor listens on, and the environment and arguments
# given here are ones it reads.

FROM rust:1-bookworm AS build
# RocksDB is compiled from source: bindgen needs libclang, RocksDB a C++ compiler.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libclang-dev clang g++ make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin spoor \
 && cp target/release/spoor /usr/local/bin/spoor

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 spoor \
 && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin spoor \
 && mkdir -p /var/lib/spoor \
 && chown 10001:10001 /var/lib/spoor
COPY --from=build /usr/local/bin/spoor /usr/local/bin/spoor
ENV SPOOR_DATA_DIR=/var/lib/spoor
VOLUME ["/var/lib/spoor"]
# OTLP gRPC, OTLP HTTP, Zipkin, Jaeger gRPC and Thrift HTTP collectors.
EXPOSE 4317/tcp 4318/tcp 9411/tcp 14250/tcp 14268/tcp
# Jaeger agent UDP (compact and binary Thrift).
EXPOSE 6831/udp 6832/udp
# Query: Jaeger HTTP API and UI, gRPC api_v2/api_v3.
EXPOSE 16686/tcp 16685/tcp
# Remote sampling over HTTP and gRPC; admin (health, /metrics).
EXPOSE 5778/tcp 5779/tcp 14269/tcp
USER 10001:10001
WORKDIR /var/lib/spoor
ENTRYPOINT ["/usr/local/bin/spoor"]
# Arguments given to the container (e.g. Kubernetes `args`) replace this.
CMD ["all-in-one"]
