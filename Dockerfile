# Builds the static-ish settee binary and runs it with on-disk storage in /data.
FROM rust:1-bookworm AS build
# npm fetches Fauxton (/_utils) from the npm registry at build time (build.rs).
RUN apt-get update && apt-get install -y --no-install-recommends npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
COPY benches ./benches
COPY tests ./tests
RUN cargo build --release --locked --bin settee

FROM debian:bookworm-slim
COPY --from=build /src/target/release/settee /usr/local/bin/settee
VOLUME /data
EXPOSE 5984
ENV SETTEE_BIND=0.0.0.0 SETTEE_DATA_DIR=/data
CMD ["settee"]
