package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"syscall"
	"time"
)

// Policy is where webhooks may go. In production only https:// to public addresses: a payer's URL must not reach
// our own network (SSRF), checked when it is set and again, on the address actually dialled, at every delivery
// (a name that resolves elsewhere later is refused then). dev allows http:// to the loopback, for its sandbox's
// receiver.
type Policy struct {
	AllowLoopback bool
}

// ErrRefused is an address or URL the policy refuses.
var ErrRefused = errors.New("webhook: address refused")

// CheckURL says whether raw may be a webhook endpoint; the error says why not, for the payer.
func (p Policy) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || len(raw) > 512 {
		return fmt.Errorf("%w: an absolute https:// URL without credentials or fragment, at most 512 bytes", ErrRefused)
	}
	host := u.Hostname()
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && p.AllowLoopback && isLoopbackHost(host):
	default:
		return fmt.Errorf("%w: only https:// URLs", ErrRefused)
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return fmt.Errorf("%w: %s does not resolve", ErrRefused, host)
	}
	for _, a := range addrs {
		if !p.allowed(a) {
			return fmt.Errorf("%w: %s is a private, loopback or link-local address (%s)", ErrRefused, host, a)
		}
	}
	return nil
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// allowed: a public unicast address, or the loopback where the policy allows it.
func (p Policy) allowed(a netip.Addr) bool {
	a = a.Unmap()
	if a.IsLoopback() {
		return p.AllowLoopback
	}
	return a.IsGlobalUnicast() && !a.IsPrivate() && !sharedAddressSpace.Contains(a)
}

// sharedAddressSpace is carrier-grade NAT (RFC 6598), private in all but name.
var sharedAddressSpace = netip.MustParsePrefix("100.64.0.0/10")

// Sender delivers webhooks over HTTP under a Policy, each attempt bounded by Timeout.
type Sender struct {
	Policy  Policy
	Timeout time.Duration
	client  *http.Client
}

// NewSender is a sender whose every connection is checked against the policy on the address it dials.
func NewSender(p Policy, timeout time.Duration) *Sender {
	dialer := &net.Dialer{Timeout: timeout, Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil || !p.allowed(ap.Addr()) {
			return fmt.Errorf("%w: %s", ErrRefused, address)
		}
		return nil
	}}
	tr := &http.Transport{DialContext: dialer.DialContext, TLSHandshakeTimeout: timeout, MaxIdleConnsPerHost: 4,
		IdleConnTimeout: 90 * time.Second, ForceAttemptHTTP2: true}
	return &Sender{Policy: p, Timeout: timeout, client: &http.Client{Transport: tr, Timeout: timeout,
		// A redirect is not followed: the payer's endpoint answers for itself.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Message is one webhook to send.
type Message struct {
	URL     string
	ID      string // webhook-id: the event's, the same on every attempt
	Body    []byte
	Secrets []string
}

// Answer is what one attempt got.
type Answer struct {
	Status   int // 0: no HTTP answer
	Duration time.Duration
	Body     string // the first KiB of the answer
	Err      error  // transport error or timeout
}

// Delivered: the endpoint took it (2xx).
func (a Answer) Delivered() bool { return a.Err == nil && a.Status >= 200 && a.Status < 300 }

// Send makes one attempt, signed at now.
func (s *Sender) Send(ctx context.Context, m Message, now time.Time) Answer {
	ts := now.Unix()
	sig, err := Sign(m.Secrets, m.ID, ts, m.Body)
	if err != nil {
		return Answer{Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.URL, bytes.NewReader(m.Body))
	if err != nil {
		return Answer{Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "receiptflow-webhooks/1")
	req.Header.Set("webhook-id", m.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", sig)
	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return Answer{Duration: time.Since(start), Err: err}
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // lets the connection be reused
	return Answer{Status: resp.StatusCode, Duration: time.Since(start), Body: string(head)}
}
