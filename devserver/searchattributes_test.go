package devserver

import (
	"context"
	"path/filepath"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// A dev database from before an attribute existed: the restart registers it, and a run can be started with it the
// moment Start returns (the services' namespace caches have seen it), although the server no longer refreshes its
// search attributes cache on every read.
func TestANewSearchAttributeIsUsableOnceStartReturns(t *testing.T) {
	db := filepath.Join(t.TempDir(), "temporal.db")
	ctx := context.Background()
	start := func(attrs map[string]enumspb.IndexedValueType) *Server {
		s, err := Start(ctx, Options{DatabaseFile: db, SearchAttributes: attrs})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	start(map[string]enumspb.IndexedValueType{"OrderId": enumspb.INDEXED_VALUE_TYPE_KEYWORD}).Stop()

	s := start(map[string]enumspb.IndexedValueType{"OrderId": enumspb.INDEXED_VALUE_TYPE_KEYWORD, "ReceiptState": enumspb.INDEXED_VALUE_TYPE_KEYWORD})
	defer s.Stop()
	c, err := client.Dial(client.Options{HostPort: s.FrontendHostPort(), Logger: quietSDKLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	state := temporal.NewSearchAttributeKeyKeyword("ReceiptState")
	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "sa-new", TaskQueue: "nobody",
		TypedSearchAttributes: temporal.NewSearchAttributes(state.ValueSet("CHECKING"))}, "Anything"); err != nil {
		t.Fatalf("a start with the new attribute: %v", err)
	}
}
