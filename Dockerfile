# Multi-stage build of the gateway. SQLite needs cgo, so both stages are
# Debian (glibc); the runtime image has no compiler and runs as non-root.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -ldflags="-s -w" -o /out/gateway ./cmd/gateway \
 && CGO_ENABLED=1 go build -trimpath -ldflags="-s -w" -o /out/paysim ./cmd/paysim

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin paygate
WORKDIR /app
COPY --from=build /out/gateway /out/paysim /usr/local/bin/
COPY configs ./configs
RUN mkdir -p /app/data && chown paygate:paygate /app/data
USER 10001:10001
# Listen on every interface inside the container; the demo config's
# sandbox calls itself through public_url, which stays on loopback.
ENV GATEWAY_ADDR=0.0.0.0:8080
EXPOSE 8080
VOLUME ["/app/data"]
# The binary checks its own /healthz (the image has no shell tools for
# it); it reads the same config, GATEWAY_CONFIG.
ENV GATEWAY_CONFIG=/app/configs/gateway.yaml
HEALTHCHECK --interval=30s --timeout=5s CMD ["gateway", "-healthcheck"]
ENTRYPOINT ["gateway"]
CMD ["-config", "/app/configs/gateway.yaml"]
