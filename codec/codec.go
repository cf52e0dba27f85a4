// Package codec encrypts Temporal payloads with AES-256-GCM, so the Temporal server, its database and its UI hold
// only ciphertext. The key id travels in the payload's metadata, so keys can rotate: the newest seals, every key
// in the ring still opens. Worker, API and replay tests use the same codec; the Web UI reaches it through the
// API's codec endpoint.
package codec

import (
	"errors"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"

	"github.com/receiptflow/receiptflow/keyring"
)

// Metadata keys and encoding name of an encrypted payload.
const (
	MetadataEncoding = converter.MetadataEncoding
	MetadataKeyID    = "encryption-key-id"
	Encoding         = "binary/encrypted"
)

// aad binds ciphertext to this codec's purpose, so a sealed database column cannot pass for a payload.
var aad = []byte("receiptflow/temporal-payload/v1")

// Codec implements converter.PayloadCodec.
type Codec struct{ ring *keyring.Ring }

// New returns a codec over ring.
func New(ring *keyring.Ring) *Codec { return &Codec{ring: ring} }

// DataConverter is the default converter with payloads encrypted by ring.
func DataConverter(ring *keyring.Ring) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), New(ring))
}

// Encode seals each payload whole (metadata and data).
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		raw, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("codec: marshal payload: %w", err)
		}
		id, sealed := c.ring.Seal(raw, aad)
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{MetadataEncoding: []byte(Encoding), MetadataKeyID: []byte(id)},
			Data:     sealed,
		}
	}
	return out, nil
}

// Decode opens encrypted payloads and passes others through unchanged. Truncated or tampered payloads are an
// error, never a panic.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if p == nil || string(p.GetMetadata()[MetadataEncoding]) != Encoding {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[MetadataKeyID])
		if id == "" {
			return nil, errors.New("codec: encrypted payload without a key id")
		}
		raw, err := c.ring.Open(id, p.GetData(), aad)
		if err != nil {
			return nil, fmt.Errorf("codec: %w", err)
		}
		var inner commonpb.Payload
		if err := proto.Unmarshal(raw, &inner); err != nil {
			return nil, fmt.Errorf("codec: unmarshal payload: %w", err)
		}
		out[i] = &inner
	}
	return out, nil
}
