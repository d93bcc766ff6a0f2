// Package adapters holds the notifier's Mongo collections and its
// providers: SMTP, a Twilio-compatible SMS API, an FCM-style push API and
// the dev sender.
package adapters

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/services/notifier/internal/domain"
)

// Collections the notifier owns.
const (
	DeliveriesCollection = "notifier_deliveries"
	OutboxCollection     = "notifier_outbox"
)

// Deliveries claims an event by inserting its id: the one insert that
// wins is the one delivery that sends (FerretDB updates are not atomic,
// unique inserts are).
type Deliveries struct{ c *mongo.Collection }

func NewDeliveries(db *mongo.Database) *Deliveries {
	return &Deliveries{c: db.Collection(DeliveriesCollection)}
}

type deliveryDoc struct {
	ID        string     `bson:"_id"`
	State     string     `bson:"state"`
	Channel   string     `bson:"channel"`
	ClaimedAt time.Time  `bson:"claimed_at"`
	SentAt    *time.Time `bson:"sent_at,omitempty"`
}

func (d *Deliveries) Claim(ctx context.Context, eventID, channel string) (string, error) {
	_, err := d.c.InsertOne(ctx, deliveryDoc{ID: eventID, State: domain.StateSending, Channel: channel, ClaimedAt: time.Now().UTC()})
	if err == nil {
		return domain.StateSending, nil
	}
	if !mongo.IsDuplicateKeyError(err) {
		return "", err
	}
	var doc deliveryDoc
	if err := d.c.FindOne(ctx, bson.D{{Key: "_id", Value: eventID}}).Decode(&doc); err != nil {
		if errors.Is(err, mongo.ErrNoDocuments) {
			// Released between our insert and this read: let a retry claim it.
			return "", errors.New("claim released concurrently")
		}
		return "", err
	}
	return doc.State, domain.ErrClaimed
}

// MarkSent is an update, safe because only the claim's owner makes it.
func (d *Deliveries) MarkSent(ctx context.Context, eventID string) error {
	_, err := d.c.UpdateByID(ctx, eventID, bson.D{{Key: "$set", Value: bson.D{
		{Key: "state", Value: domain.StateSent},
		{Key: "sent_at", Value: time.Now().UTC()},
	}}})
	return err
}

func (d *Deliveries) Release(ctx context.Context, eventID string) error {
	_, err := d.c.DeleteOne(ctx, bson.D{{Key: "_id", Value: eventID}, {Key: "state", Value: domain.StateSending}})
	return err
}

// Outbox keeps what the dev sender "sent", for tests and the dev app.
type Outbox struct{ c *mongo.Collection }

func NewOutbox(db *mongo.Database) *Outbox { return &Outbox{c: db.Collection(OutboxCollection)} }

type outboxDoc struct {
	ID      bson.ObjectID `bson:"_id"`
	Channel string        `bson:"channel"`
	To      string        `bson:"to"`
	Subject string        `bson:"subject"`
	Body    string        `bson:"body"`
	Code    string        `bson:"code,omitempty"`
	SentAt  time.Time     `bson:"sent_at"`
}

func (o *Outbox) Add(ctx context.Context, m domain.Message, at time.Time) error {
	_, err := o.c.InsertOne(ctx, outboxDoc{
		ID: bson.NewObjectID(), Channel: m.Channel, To: m.To, Subject: m.Subject, Body: m.Body, Code: m.Code, SentAt: at.UTC(),
	})
	return err
}

// OutboxLimit bounds one List.
const OutboxLimit = 100

// List returns the messages to an address (all when to is empty), newest
// first.
func (o *Outbox) List(ctx context.Context, to string) ([]contract.OutboxMessage, error) {
	filter := bson.D{}
	if to != "" {
		filter = bson.D{{Key: "to", Value: to}}
	}
	cur, err := o.c.Find(ctx, filter, options.Find().
		SetSort(bson.D{{Key: "sent_at", Value: -1}, {Key: "_id", Value: -1}}).
		SetLimit(OutboxLimit))
	if err != nil {
		return nil, err
	}
	var docs []outboxDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	out := make([]contract.OutboxMessage, len(docs))
	for i, d := range docs {
		out[i] = contract.OutboxMessage{Channel: d.Channel, To: d.To, Subject: d.Subject, Body: d.Body, Code: d.Code, SentAt: d.SentAt}
	}
	return out, nil
}

// Erase deletes what the dev sender kept for these addresses (an
// account's purge). Deliveries are kept: an event id and a state, naming
// no one, they stop a redelivered event from being sent twice.
func (o *Outbox) Erase(ctx context.Context, addresses []string) error {
	if len(addresses) == 0 {
		return nil
	}
	_, err := o.c.DeleteMany(ctx, bson.D{{Key: "to", Value: bson.D{{Key: "$in", Value: addresses}}}})
	return err
}
