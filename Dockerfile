# The wirebench binary in a small image: `wirebench serve` for the server pods, `wirebench run
# --shard` for the generators, `wirebench merge` for the merge step (deploy/k8s).
#   docker build -t wirebench:dev .
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p wirebench

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/wirebench /usr/local/bin/wirebench
WORKDIR /work
ENTRYPOINT ["wirebench"]
