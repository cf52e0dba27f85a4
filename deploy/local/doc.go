// Package local holds the test of deploy/local/run, the production topology on one machine: PostgreSQL, a
// Temporal server built from the pinned module, separate api and worker processes and a standalone sandbox.
// The test runs only with RECEIPTFLOW_TOPOLOGY=1 (.ci/run sets it), so a plain `go test ./...` stays fast.
package local
