# The troupe command, for every service of compose.yaml (one image, one
# binary: `troupe serve <component>`, `troupe psp serve`, ...).
#
#   docker build -t troupe .
#   docker run --rm troupe --help

FROM golang:1.26 AS build
WORKDIR /src
# The whole workspace (go.work names every module); the cache mounts keep
# the modules and the build cache between builds.
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    cd cmd/troupe && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/troupe .

FROM alpine:3.22
# wget (busybox) serves the health checks; ca-certificates a TLS card gateway.
RUN apk add --no-cache ca-certificates && adduser -D -u 10001 troupe
COPY --from=build /out/troupe /usr/local/bin/troupe
USER troupe
WORKDIR /home/troupe
EXPOSE 8080
ENTRYPOINT ["troupe"]
CMD ["--help"]
