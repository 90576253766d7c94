# Canopy's single image: the manager, and (from the backup issue on) the backup agent.
# Build with `make docker-build` on a machine with a container engine.
FROM golang:1.26 AS build
WORKDIR /src
# Dependencies first, so that a source change does not download modules again.
COPY go.mod go.sum ./
RUN go mod download
COPY apis/ apis/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY internal/ internal/
ARG TARGETOS=linux
ARG TARGETARCH=amd64
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o /out/canopy ./cmd/canopy

# Static, shell-less base that runs as uid 65532; the manager needs nothing else.
FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/canopy /canopy
USER 65532:65532
ENTRYPOINT ["/canopy"]
CMD ["manager"]
