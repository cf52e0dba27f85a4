package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// WebhookEndpoint is a payer's one webhook endpoint. Secrets holds the signing secrets in force: the current one,
// and during a rotation the previous one until its OldUntil.
type WebhookEndpoint struct {
	PayerID        string    `json:"payerId"`
	URL            string    `json:"url"`
	Events         []string  `json:"events"`
	Secrets        []string  `json:"-"`
	OldUntil       time.Time `json:"-"`
	DisabledAt     time.Time `json:"-"`
	DisabledReason string    `json:"-"`
}

// Subscribed: the endpoint is enabled and wants events of type t.
func (e WebhookEndpoint) Subscribed(t string) bool {
	if !e.DisabledAt.IsZero() {
		return false
	}
	for _, want := range e.Events {
		if want == t {
			return true
		}
	}
	return false
}

// Webhook event states.
const (
	WebhookPending   = "PENDING"
	WebhookDelivered = "DELIVERED"
	WebhookFailed    = "FAILED"
)

// WebhookEvent is one event for a payer, with how its delivery stands.
type WebhookEvent struct {
	ID        string    `json:"id"`
	PayerID   string    `json:"-"`
	OrderID   string    `json:"orderId"`
	Type      string    `json:"type"`
	Body      string    `json:"-"`
	State     string    `json:"state"`
	Attempts  int       `json:"attempts"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// WebhookAttempt is one delivery attempt.
type WebhookAttempt struct {
	EventID    string    `json:"-"`
	Attempt    int       `json:"attempt"`
	At         time.Time `json:"at"`
	Status     int       `json:"status"`
	DurationMS int64     `json:"durationMs"`
	Answer     string    `json:"answer"`
}

// PutWebhookEndpoint sets a payer's endpoint. A new endpoint gets secret; an existing one keeps its secrets (secret
// is ignored) and is enabled again. It reports whether the endpoint is new.
func (s *Store) PutWebhookEndpoint(ctx context.Context, e WebhookEndpoint, secret, actor string) (bool, error) {
	created := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.payerSecret(ctx, tx, e.PayerID); err != nil {
			return err
		}
		now := s.stamp()
		res, err := s.exec(ctx, tx, `UPDATE webhook_endpoints SET url = ?, events = ?, disabled_at = '', disabled_reason = '', updated_at = ? WHERE payer_id = ?`,
			e.URL, strings.Join(e.Events, " "), now, e.PayerID)
		if err != nil {
			return err
		}
		action := "webhook.update"
		if n, _ := res.RowsAffected(); n == 0 {
			if _, err := s.exec(ctx, tx, `INSERT INTO webhook_endpoints (payer_id, url, events, secret_enc, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
				e.PayerID, e.URL, strings.Join(e.Events, " "), s.seal.SealString(secret, webhookAAD(e.PayerID)), now, now); err != nil {
				return err
			}
			created, action = true, "webhook.create"
		}
		return s.audit(ctx, tx, AuditEntry{Actor: actor, Action: action, Subject: "payer:" + e.PayerID, Detail: e.URL + " " + strings.Join(e.Events, ",")})
	})
	return created, err
}

// payerSecret checks the payer exists (ErrNotFound otherwise).
func (s *Store) payerSecret(ctx context.Context, q querier, payerID string) (string, error) {
	var sealed string
	if err := s.row(ctx, q, `SELECT secret_enc FROM payers WHERE id = ?`, payerID).Scan(&sealed); err != nil {
		return "", notFound(err, "payer "+payerID)
	}
	return sealed, nil
}

func webhookAAD(payerID string) string { return "payer:" + payerID + ":webhook" }

// RotateWebhookSecret makes secret the endpoint's; the one it replaces keeps signing beside it for overlap.
func (s *Store) RotateWebhookSecret(ctx context.Context, payerID, secret string, overlap time.Duration, actor string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var current string
		if err := s.row(ctx, tx, `SELECT secret_enc FROM webhook_endpoints WHERE payer_id = ?`, payerID).Scan(&current); err != nil {
			return notFound(err, "webhook endpoint of "+payerID)
		}
		if _, err := s.exec(ctx, tx, `UPDATE webhook_endpoints SET secret_enc = ?, old_secret_enc = ?, old_until = ?, updated_at = ? WHERE payer_id = ?`,
			s.seal.SealString(secret, webhookAAD(payerID)), current, formatTime(s.now().Add(overlap)), s.stamp(), payerID); err != nil {
			return err
		}
		return s.audit(ctx, tx, AuditEntry{Actor: actor, Action: "webhook.secret.rotate", Subject: "payer:" + payerID})
	})
}

// DeleteWebhookEndpoint removes a payer's endpoint; events not yet delivered are no longer sent.
func (s *Store) DeleteWebhookEndpoint(ctx context.Context, payerID, actor string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `DELETE FROM webhook_endpoints WHERE payer_id = ?`, payerID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("webhook endpoint of %s: %w", payerID, ErrNotFound)
		}
		return s.audit(ctx, tx, AuditEntry{Actor: actor, Action: "webhook.delete", Subject: "payer:" + payerID})
	})
}

// DisableWebhookEndpoint stops deliveries to an endpoint that kept failing; PutWebhookEndpoint enables it again.
func (s *Store) DisableWebhookEndpoint(ctx context.Context, payerID, reason string) error {
	now := s.stamp()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `UPDATE webhook_endpoints SET disabled_at = ?, disabled_reason = ?, updated_at = ? WHERE payer_id = ? AND disabled_at = ''`,
			now, reason, now, payerID); err != nil {
			return err
		}
		return s.audit(ctx, tx, AuditEntry{Actor: "system", Action: "webhook.disable", Subject: "payer:" + payerID, Detail: reason})
	})
}

// WebhookEndpointOf is a payer's endpoint with its secrets in force (ErrNotFound when it has none).
func (s *Store) WebhookEndpointOf(ctx context.Context, payerID string) (WebhookEndpoint, error) {
	var e WebhookEndpoint
	var events, sealed, oldSealed, oldUntil, disabled string
	err := s.row(ctx, s.db, `SELECT payer_id, url, events, secret_enc, old_secret_enc, old_until, disabled_at, disabled_reason FROM webhook_endpoints WHERE payer_id = ?`,
		payerID).Scan(&e.PayerID, &e.URL, &events, &sealed, &oldSealed, &oldUntil, &disabled, &e.DisabledReason)
	if err != nil {
		return WebhookEndpoint{}, notFound(err, "webhook endpoint of "+payerID)
	}
	e.Events, e.DisabledAt, e.OldUntil = strings.Fields(events), parseTime(disabled), parseTime(oldUntil)
	secret, err := s.seal.OpenString(sealed, webhookAAD(payerID))
	if err != nil {
		return WebhookEndpoint{}, err
	}
	e.Secrets = []string{secret}
	if oldSealed != "" && s.now().Before(e.OldUntil) {
		old, err := s.seal.OpenString(oldSealed, webhookAAD(payerID))
		if err != nil {
			return WebhookEndpoint{}, err
		}
		e.Secrets = append(e.Secrets, old)
	}
	return e, nil
}

// RecordWebhookEvent keeps an event to deliver; the same ID again is the same event (false: it was already kept).
func (s *Store) RecordWebhookEvent(ctx context.Context, e WebhookEvent) (bool, error) {
	now := s.stamp()
	res, err := s.exec(ctx, s.db, `INSERT INTO webhook_events (id, payer_id, order_id, type, body, state, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`, e.ID, e.PayerID, e.OrderID, e.Type, e.Body, WebhookPending, now, now)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// WebhookEventOf is one event (ErrNotFound when unknown).
func (s *Store) WebhookEventOf(ctx context.Context, id string) (WebhookEvent, error) {
	rows, err := s.query(ctx, s.db, `SELECT `+webhookEventColumns+` FROM webhook_events WHERE id = ?`, id)
	if err != nil {
		return WebhookEvent{}, err
	}
	events, err := scanWebhookEvents(rows)
	if err != nil {
		return WebhookEvent{}, err
	}
	if len(events) == 0 {
		return WebhookEvent{}, fmt.Errorf("webhook event %s: %w", id, ErrNotFound)
	}
	return events[0], nil
}

const webhookEventColumns = `id, payer_id, order_id, type, body, state, attempts, created_at, updated_at`

func scanWebhookEvents(rows *sql.Rows) ([]WebhookEvent, error) {
	defer rows.Close()
	var out []WebhookEvent
	for rows.Next() {
		var e WebhookEvent
		var created, updated string
		if err := rows.Scan(&e.ID, &e.PayerID, &e.OrderID, &e.Type, &e.Body, &e.State, &e.Attempts, &created, &updated); err != nil {
			return nil, err
		}
		e.CreatedAt, e.UpdatedAt = parseTime(created), parseTime(updated)
		out = append(out, e)
	}
	return out, rows.Err()
}

// RecordWebhookAttempt logs one attempt and moves the event to state (PENDING while it is retried).
func (s *Store) RecordWebhookAttempt(ctx context.Context, a WebhookAttempt, state string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `INSERT INTO webhook_attempts (event_id, attempt, at, status, duration_ms, answer) VALUES (?, ?, ?, ?, ?, ?)`,
			a.EventID, a.Attempt, formatTime(a.At), a.Status, a.DurationMS, a.Answer); err != nil {
			return err
		}
		_, err := s.exec(ctx, tx, `UPDATE webhook_events SET state = ?, attempts = ?, updated_at = ? WHERE id = ?`, state, a.Attempt, s.stamp(), a.EventID)
		return err
	})
}

// SetWebhookEventState moves an event (FAILED when its retries ran out, PENDING again when it is redelivered).
func (s *Store) SetWebhookEventState(ctx context.Context, id, state string) error {
	_, err := s.exec(ctx, s.db, `UPDATE webhook_events SET state = ?, updated_at = ? WHERE id = ?`, state, s.stamp(), id)
	return err
}

// WebhookDelivery is an event with its attempts, newest event first, as payers and operators see it.
type WebhookDelivery struct {
	WebhookEvent
	Log []WebhookAttempt `json:"log"`
}

// WebhookDeliveries lists a payer's latest events (at most limit) with their attempts.
func (s *Store) WebhookDeliveries(ctx context.Context, payerID string, limit int) ([]WebhookDelivery, error) {
	rows, err := s.query(ctx, s.db, `SELECT `+webhookEventColumns+` FROM webhook_events WHERE payer_id = ? ORDER BY created_at DESC, id LIMIT ?`, payerID, limit)
	if err != nil {
		return nil, err
	}
	events, err := scanWebhookEvents(rows)
	if err != nil {
		return nil, err
	}
	out := make([]WebhookDelivery, 0, len(events))
	for _, e := range events {
		d := WebhookDelivery{WebhookEvent: e, Log: []WebhookAttempt{}}
		arows, err := s.query(ctx, s.db, `SELECT attempt, at, status, duration_ms, answer FROM webhook_attempts WHERE event_id = ? ORDER BY attempt`, e.ID)
		if err != nil {
			return nil, err
		}
		for arows.Next() {
			var a WebhookAttempt
			var at string
			if err := arows.Scan(&a.Attempt, &at, &a.Status, &a.DurationMS, &a.Answer); err != nil {
				arows.Close()
				return nil, err
			}
			a.At = parseTime(at)
			d.Log = append(d.Log, a)
		}
		arows.Close()
		if err := arows.Err(); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// OldestUndeliveredWebhook is when the oldest event still waiting for its delivery was emitted (zero: none waits).
func (s *Store) OldestUndeliveredWebhook(ctx context.Context) (time.Time, error) {
	var oldest sql.NullString
	err := s.row(ctx, s.db, `SELECT MIN(created_at) FROM webhook_events WHERE state = ?`, WebhookPending).Scan(&oldest)
	if err != nil || !oldest.Valid {
		return time.Time{}, err
	}
	return parseTime(oldest.String), nil
}

// WebhookDeliveredSince: one of the payer's events was delivered at or after since.
func (s *Store) WebhookDeliveredSince(ctx context.Context, payerID string, since time.Time) (bool, error) {
	var n int
	err := s.row(ctx, s.db, `SELECT COUNT(*) FROM webhook_events WHERE payer_id = ? AND state = ? AND updated_at >= ?`,
		payerID, WebhookDelivered, formatTime(since)).Scan(&n)
	return n > 0, err
}
