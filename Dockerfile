# Multi-stage build of a static receiptflow binary. The nodev tag leaves out the dev command (the embedded
# Temporal server, its UI and the WeChat sandbox): production images run api, worker and migrate only.
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -tags nodev -trimpath -ldflags="-s -w" -o /out/receiptflow ./cmd/receiptflow

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/receiptflow /receiptflow
USER nonroot:nonroot
EXPOSE 8080 9090
ENTRYPOINT ["/receiptflow"]
CMD ["api"]
