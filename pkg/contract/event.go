package contract

import (
	"encoding/json"
	"time"
)

// Event is the envelope of every event on JetStream. It is published with
// Nats-Msg-Id = ID so that a relay that publishes twice stores it once.
type Event struct {
	ID            string          `json:"id" bson:"id"`
	Type          string          `json:"type" bson:"type"`
	Time          time.Time       `json:"time" bson:"time"`
	CorrelationID string          `json:"correlation_id,omitempty" bson:"correlation_id,omitempty"`
	Data          json.RawMessage `json:"data" bson:"data"`

	// TraceParent is the W3C trace context of the request that caused the
	// event (empty with tracing off), so its consumers continue the trace
	// even when a relay publishes it later.
	TraceParent string `json:"traceparent,omitempty" bson:"traceparent,omitempty"`
}

// Decode unmarshals the event's data into v.
func (e Event) Decode(v any) error { return json.Unmarshal(e.Data, v) }
