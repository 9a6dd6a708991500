# syntax=docker/dockerfile:1
# Builds the headway server image: `docker build -t REGISTRY/headway:TAG .`
# The cache mounts need BuildKit, the default builder since Docker 23.

# Build stage: the Rust toolchain on Debian 12 (bookworm), the same Debian release as the
# runtime image, so the binary links against the glibc it runs with.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# target/ is a cache mount that is gone after this step, so the step copies the binary out.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin headway \
    && install -D -m 0755 target/release/headway /out/headway

# Runtime stage: glibc, libgcc and CA certificates, with no shell or package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/headway /usr/local/bin/headway
# The image's nonroot user and group; Kubernetes runAsNonRoot needs the numeric id.
USER 65532:65532
# Without a database URL the server opens a SQLite file in the working folder, which this
# user may write. With PostgreSQL the server writes no file, so the root filesystem can be
# read-only.
WORKDIR /home/nonroot
# A container must listen on every interface to be reachable. Production mode refuses to
# start without a signing key instead of generating one.
ENV HEADWAY_LISTEN=0.0.0.0:8080 \
    HEADWAY_MODE=production
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/headway"]
CMD ["serve"]
