package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/receiptflow/receiptflow/store"
)

func TestWebhookEndpointsEventsAndAttempts(t *testing.T) {
	eachDB(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if _, err := s.PutWebhookEndpoint(ctx, store.WebhookEndpoint{PayerID: "nobody", URL: "https://x.example/h", Events: []string{"order.paid"}}, "whsec_a", "t"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("an endpoint for an unknown payer: %v", err)
		}
		if err := s.PutPayer(ctx, store.Payer{ID: "payer1", Name: "示例科技有限公司", Secret: "merchant-secret-0123456789", Account: payerAccount}); err != nil {
			t.Fatal(err)
		}
		ep := store.WebhookEndpoint{PayerID: "payer1", URL: "https://x.example/h", Events: []string{"order.failed", "order.paid"}}
		if created, err := s.PutWebhookEndpoint(ctx, ep, "whsec_first", "op-alice"); err != nil || !created {
			t.Fatalf("create: %v %v", created, err)
		}
		// Changing the URL keeps the secret (the one given is ignored).
		ep.URL = "https://y.example/h"
		if created, err := s.PutWebhookEndpoint(ctx, ep, "whsec_ignored", "op-alice"); err != nil || created {
			t.Fatalf("update: %v %v", created, err)
		}
		got, err := s.WebhookEndpointOf(ctx, "payer1")
		if err != nil || got.URL != ep.URL || len(got.Secrets) != 1 || got.Secrets[0] != "whsec_first" || !got.Subscribed("order.paid") || got.Subscribed("order.expired") {
			t.Fatalf("%+v %v", got, err)
		}
		// A rotation: both secrets sign during the overlap, only the new one after it.
		if err := s.RotateWebhookSecret(ctx, "payer1", "whsec_second", time.Hour, "payer:payer1"); err != nil {
			t.Fatal(err)
		}
		if got, _ = s.WebhookEndpointOf(ctx, "payer1"); len(got.Secrets) != 2 || got.Secrets[0] != "whsec_second" || got.Secrets[1] != "whsec_first" {
			t.Fatalf("during the overlap: %v", got.Secrets)
		}
		s.SetClock(func() time.Time { return time.Now().Add(2 * time.Hour) })
		if got, _ = s.WebhookEndpointOf(ctx, "payer1"); len(got.Secrets) != 1 || got.Secrets[0] != "whsec_second" {
			t.Fatalf("after the overlap: %v", got.Secrets)
		}
		s.SetClock(time.Now)

		ev := store.WebhookEvent{ID: "evt_1", PayerID: "payer1", OrderID: "ord1", Type: "order.paid", Body: `{"id":"evt_1"}`}
		if fresh, err := s.RecordWebhookEvent(ctx, ev); err != nil || !fresh {
			t.Fatalf("record: %v %v", fresh, err)
		}
		if fresh, err := s.RecordWebhookEvent(ctx, ev); err != nil || fresh {
			t.Fatalf("the same event again: %v %v", fresh, err)
		}
		since := time.Now().Add(-time.Minute)
		if took, err := s.WebhookDeliveredSince(ctx, "payer1", since); err != nil || took {
			t.Fatalf("delivered before any attempt: %v %v", took, err)
		}
		if err := s.RecordWebhookAttempt(ctx, store.WebhookAttempt{EventID: "evt_1", Attempt: 1, At: time.Now(), Status: 500, DurationMS: 12, Answer: "busy"}, store.WebhookPending); err != nil {
			t.Fatal(err)
		}
		if oldest, err := s.OldestUndeliveredWebhook(ctx); err != nil || oldest.IsZero() {
			t.Fatalf("oldest undelivered: %v %v", oldest, err)
		}
		if err := s.RecordWebhookAttempt(ctx, store.WebhookAttempt{EventID: "evt_1", Attempt: 2, At: time.Now(), Status: 204, DurationMS: 8}, store.WebhookDelivered); err != nil {
			t.Fatal(err)
		}
		list, err := s.WebhookDeliveries(ctx, "payer1", 10)
		if err != nil || len(list) != 1 || list[0].State != store.WebhookDelivered || list[0].Attempts != 2 || len(list[0].Log) != 2 ||
			list[0].Log[0].Status != 500 || list[0].Log[0].Answer != "busy" || list[0].Log[1].Status != 204 {
			t.Fatalf("deliveries: %+v %v", list, err)
		}
		if took, _ := s.WebhookDeliveredSince(ctx, "payer1", since); !took {
			t.Fatal("a delivered event is not seen")
		}
		if oldest, _ := s.OldestUndeliveredWebhook(ctx); !oldest.IsZero() {
			t.Fatalf("nothing waits, yet oldest is %v", oldest)
		}
		if other, _ := s.WebhookDeliveries(ctx, "payer2", 10); len(other) != 0 {
			t.Fatalf("another payer's log: %+v", other)
		}
		// Disabled: no longer subscribed; set again: enabled.
		if err := s.DisableWebhookEndpoint(ctx, "payer1", "failing"); err != nil {
			t.Fatal(err)
		}
		if got, _ = s.WebhookEndpointOf(ctx, "payer1"); got.DisabledAt.IsZero() || got.Subscribed("order.paid") {
			t.Fatalf("disabled: %+v", got)
		}
		if _, err := s.PutWebhookEndpoint(ctx, ep, "", "op-alice"); err != nil {
			t.Fatal(err)
		}
		if got, _ = s.WebhookEndpointOf(ctx, "payer1"); !got.Subscribed("order.paid") {
			t.Fatalf("set again: %+v", got)
		}
		if err := s.DeleteWebhookEndpoint(ctx, "payer1", "op-alice"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.WebhookEndpointOf(ctx, "payer1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
	})
}
