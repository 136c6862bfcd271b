# syntax=docker/dockerfile:1
# tokend and the fake upstream wxsim, as static binaries (CGO_ENABLED=0) in
# a small Alpine runtime. Alpine rather than distroless/static: its busybox
# wget runs the HEALTHCHECK against /readyz without adding a subcommand to
# tokend; the binaries themselves need nothing from the image.
#
#   docker build -t tokend:local --build-arg VERSION=$(git describe --always) .
#   docker run --rm -v $PWD/deploy/tokend-prod.yaml:/etc/tokend/tokend.yaml:ro tokend:local

FROM golang:1.26-alpine AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/tokend ./cmd/tokend \
 && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/wxsim ./cmd/wxsim

FROM alpine:3.22
RUN addgroup -S -g 10001 tokend && adduser -S -D -H -u 10001 -G tokend -s /sbin/nologin tokend
COPY --from=build /out/tokend /out/wxsim /usr/local/bin/
USER 10001:10001
# The config must set http.listen to 0.0.0.0:8080 for the health check and
# for other containers to reach the API.
ENV TOKEND_CONFIG=/etc/tokend/tokend.yaml
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD wget -q -O /dev/null http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["tokend"]
