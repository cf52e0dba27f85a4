package api

import (
	"math"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"
)

// Limit is a token bucket: Burst calls at once, refilled at Per (calls per hour, so a face credential's
// "10 an hour" reads as it is).
type Limit struct {
	Burst   int
	PerHour float64
}

// Limits bound what one caller may ask of the API in a while, each answered 429 RATE_LIMITED with Retry-After
// past it. The buckets live in the process: with several API processes each has its own, so a caller's bound is
// that many times the limit (a shared store would make it one; for a login or a face credential, a per-process
// bound still stops a burst from spending WeChat's quota).
type Limits struct {
	LoginFailuresPerIP    Limit // wx.login codes WeChat refused, per client IP
	LoginsPerIP           Limit // every session asked for, per client IP
	TapsPerPayee          Limit // POST /v1/receipts/{id}, per payee (openid)
	FaceSessionsPerPayee  Limit // face credentials (each costs WeChat quota), per payee
	FaceResultsPerPayee   Limit // face results sent, per payee
	ConfirmsPerPayee      Limit // confirms and returns from WeChat's confirm page, per payee
	MerchantCallsPerPayer Limit // signed merchant requests, per payer
	OperatorFailuresPerIP Limit // operator credentials refused, per client IP
}

// DefaultLimits are generous for a person and tight for a script: a payee taps, scans and confirms a few times
// an order; a burst of guessed codes or tokens meets 429 after a handful.
var DefaultLimits = Limits{
	LoginFailuresPerIP:    Limit{Burst: 10, PerHour: 600},
	LoginsPerIP:           Limit{Burst: 120, PerHour: 3600},
	TapsPerPayee:          Limit{Burst: 30, PerHour: 600},
	FaceSessionsPerPayee:  Limit{Burst: 10, PerHour: 10},
	FaceResultsPerPayee:   Limit{Burst: 20, PerHour: 60},
	ConfirmsPerPayee:      Limit{Burst: 60, PerHour: 1200},
	MerchantCallsPerPayer: Limit{Burst: 600, PerHour: 360000},
	OperatorFailuresPerIP: Limit{Burst: 10, PerHour: 60},
}

// buckets is one limit's token buckets by key, forgetting a key idle long enough to be full again.
type buckets struct {
	limit Limit
	mu    sync.Mutex
	keys  map[string]*bucket
	swept time.Time
}

type bucket struct {
	l    *rate.Limiter
	used time.Time
}

func newBuckets(l Limit) *buckets { return &buckets{limit: l, keys: map[string]*bucket{}} }

func (b *buckets) get(key string, now time.Time) *rate.Limiter {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Sub(b.swept) > time.Minute {
		full := b.fullAfter()
		for k, v := range b.keys {
			if now.Sub(v.used) > full {
				delete(b.keys, k)
			}
		}
		b.swept = now
	}
	e, ok := b.keys[key]
	if !ok {
		e = &bucket{l: rate.NewLimiter(rate.Limit(b.limit.PerHour/3600), b.limit.Burst)}
		b.keys[key] = e
	}
	e.used = now
	return e.l
}

// fullAfter is how long an unused bucket takes to refill completely.
func (b *buckets) fullAfter() time.Duration {
	return time.Duration(float64(b.limit.Burst) / (b.limit.PerHour / 3600) * float64(time.Second))
}

// take spends one call of key's bucket; false, and how long until one is there, when none is left.
func (b *buckets) take(key string) (bool, time.Duration) {
	now := time.Now()
	l := b.get(key, now)
	r := l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// left says whether key has a call left, spending nothing (for limits on failures: spend only when one fails).
func (b *buckets) left(key string) (bool, time.Duration) {
	now := time.Now()
	l := b.get(key, now)
	if l.TokensAt(now) >= 1 {
		return true, 0
	}
	return false, time.Duration((1 - l.TokensAt(now)) / float64(l.Limit()) * float64(time.Second))
}

// rateLimited answers 429 with when to come back.
func rateLimited(c *gin.Context, wait time.Duration, what string) {
	p := problem(http.StatusTooManyRequests, "RATE_LIMITED", "操作太频繁，请稍后再试（too many "+what+"）")
	p.RetryAfter = retryAfterSeconds(wait)
	abort(c, p)
}

// retryAfterSeconds is a wait as Retry-After says it: whole seconds, rounded up, at least one.
func retryAfterSeconds(wait time.Duration) int { return max(1, int(math.Ceil(wait.Seconds()))) }

// limit is a middleware spending one call of key(c)'s bucket.
func limit(b *buckets, what string, key func(*gin.Context) string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if ok, wait := b.take(key(c)); !ok {
			rateLimited(c, wait, what)
			return
		}
		c.Next()
	}
}

// limitFailures refuses key(c) while its bucket of failures is empty, and spends one whenever the handler
// answers one of the failure statuses: only failed attempts count.
func limitFailures(b *buckets, what string, key func(*gin.Context) string, failures ...int) gin.HandlerFunc {
	return func(c *gin.Context) {
		k := key(c)
		if ok, wait := b.left(k); !ok {
			rateLimited(c, wait, what)
			return
		}
		c.Next()
		if slices.Contains(failures, c.Writer.Status()) {
			b.take(k)
		}
	}
}

// limiters are the API's buckets, one set per Limits field.
type limiters struct {
	loginFailures, logins, taps, faceSessions, faceResults, confirms, merchant, operatorFailures *buckets
}

func newLimiters(l Limits) *limiters {
	return &limiters{loginFailures: newBuckets(l.LoginFailuresPerIP), logins: newBuckets(l.LoginsPerIP), taps: newBuckets(l.TapsPerPayee),
		faceSessions: newBuckets(l.FaceSessionsPerPayee), faceResults: newBuckets(l.FaceResultsPerPayee), confirms: newBuckets(l.ConfirmsPerPayee),
		merchant: newBuckets(l.MerchantCallsPerPayer), operatorFailures: newBuckets(l.OperatorFailuresPerIP)}
}

func byIP(c *gin.Context) string    { return c.ClientIP() }
func byPayee(c *gin.Context) string { return c.GetString("openid") }
func byPayer(c *gin.Context) string { return c.GetString("payer") }
