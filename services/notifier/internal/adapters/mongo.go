// Package adapters holds the notifier's Mongo collections and its
// providers: SMTP, a Twilio-compatible SMS API, an FCM-style push API and
// the dev sender.
package adapters

import (
	"context"
	"errors"
	"slices"
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
	// DroppedDevicesCollection holds the push tokens FCM declared dead,
	// by fingerprint (never the token itself).
	DroppedDevicesCollection = "notifier_dropped_devices"
)

// Deliveries claims an event by inserting its id: the one insert that
// wins is the one delivery that sends (FerretDB updates are not atomic,
// unique inserts are).
type Deliveries struct{ c *mongo.Collection }

func NewDeliveries(db *mongo.Database) *Deliveries {
	return &Deliveries{c: db.Collection(DeliveriesCollection)}
}

// deliveryDoc is also the record of what was sent to whom, for the user's
// data export: the message as domain.Shown has it, never its code, and no
// device token as a push's recipient.
type deliveryDoc struct {
	ID        string     `bson:"_id"`
	State     string     `bson:"state"`
	Channel   string     `bson:"channel"`
	ClaimedAt time.Time  `bson:"claimed_at"`
	SentAt    *time.Time `bson:"sent_at,omitempty"`
	UserID    int64      `bson:"user_id,omitempty"`
	UserUUID  string     `bson:"user_uuid,omitempty"`
	To        string     `bson:"to,omitempty"`
	Template  string     `bson:"template,omitempty"`
	Subject   string     `bson:"subject,omitempty"`
	Body      string     `bson:"body,omitempty"`
}

func (d *Deliveries) Claim(ctx context.Context, eventID string, m domain.Message) (string, error) {
	to := m.To
	if m.Channel == contract.ChannelPush {
		to = ""
	}
	_, err := d.c.InsertOne(ctx, deliveryDoc{
		ID: eventID, State: domain.StateSending, Channel: m.Channel, ClaimedAt: time.Now().UTC(),
		UserID: m.UserID, UserUUID: m.UserUUID, To: to, Template: m.Template, Subject: m.Shown.Subject, Body: m.Shown.Body,
	})
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

// SentLimit bounds one user's export of sent messages, so that the part
// fits in one NATS message (about 0.5 KB each against the 1 MB default);
// the sending limits make 1000 more than a year of an active account's.
const SentLimit = 1000

// Sent lists the newest SentLimit messages sent to the account userID (or,
// for codes, to its uuid), oldest first. A filter on anything but _id
// scans on FerretDB: an export runs at most once an hour per account.
func (d *Deliveries) Sent(ctx context.Context, userID int64, uuid string) ([]contract.ExportNotification, error) {
	who := bson.A{bson.D{{Key: "user_id", Value: userID}}}
	if uuid != "" {
		who = append(who, bson.D{{Key: "user_uuid", Value: uuid}})
	}
	cur, err := d.c.Find(ctx, bson.D{{Key: "state", Value: domain.StateSent}, {Key: "$or", Value: who}},
		options.Find().SetSort(bson.D{{Key: "sent_at", Value: -1}, {Key: "_id", Value: -1}}).SetLimit(SentLimit))
	if err != nil {
		return nil, err
	}
	var docs []deliveryDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	out := make([]contract.ExportNotification, 0, len(docs))
	for _, doc := range docs {
		n := contract.ExportNotification{Channel: doc.Channel, To: doc.To, Template: doc.Template, Subject: doc.Subject, Body: doc.Body}
		if doc.SentAt != nil {
			n.SentAt = *doc.SentAt
		}
		out = append(out, n)
	}
	slices.Reverse(out)
	return out, nil
}

// Forget strips from the delivery records of a deleted account everything
// that says who it was for and what it said; the id and state stay, so a
// redelivered event is still not sent twice. By address it strips only
// the records that name no other account: auth frees the addresses with
// its own part, so by the time this runs one may be a new account's, and
// its records are not the deleted one's to erase. Idempotent (an
// account's purge). The filter scans on FerretDB: it runs once per purge,
// off the request path.
func (d *Deliveries) Forget(ctx context.Context, userID int64, uuid string, addresses []string) error {
	who := bson.A{bson.D{{Key: "user_id", Value: userID}}}
	if uuid != "" {
		who = append(who, bson.D{{Key: "user_uuid", Value: uuid}})
	}
	if len(addresses) > 0 {
		noneOrThis := func(field string, this any) bson.D {
			return bson.D{{Key: "$or", Value: bson.A{
				bson.D{{Key: field, Value: bson.D{{Key: "$exists", Value: false}}}},
				bson.D{{Key: field, Value: this}},
			}}}
		}
		who = append(who, bson.D{
			{Key: "to", Value: bson.D{{Key: "$in", Value: addresses}}},
			{Key: "$and", Value: bson.A{noneOrThis("user_id", userID), noneOrThis("user_uuid", uuid)}},
		})
	}
	_, err := d.c.UpdateMany(ctx, bson.D{{Key: "$or", Value: who}}, bson.D{{Key: "$unset", Value: bson.D{
		{Key: "user_id", Value: ""}, {Key: "user_uuid", Value: ""}, {Key: "to", Value: ""},
		{Key: "template", Value: ""}, {Key: "subject", Value: ""}, {Key: "body", Value: ""},
	}}})
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

// DroppedDevices is the notifier's list of dead push tokens, one document
// per token fingerprint; a read by _id is the hot path (FerretDB indexes
// only that).
type DroppedDevices struct{ c *mongo.Collection }

func NewDroppedDevices(db *mongo.Database) *DroppedDevices {
	return &DroppedDevices{c: db.Collection(DroppedDevicesCollection)}
}

type droppedDoc struct {
	ID        string    `bson:"_id"`
	DroppedAt time.Time `bson:"dropped_at"`
}

// Drop records the token; dropping it twice is not an error.
func (d *DroppedDevices) Drop(ctx context.Context, deviceToken string) error {
	_, err := d.c.InsertOne(ctx, droppedDoc{ID: DeviceFingerprint(deviceToken), DroppedAt: time.Now().UTC()})
	if mongo.IsDuplicateKeyError(err) {
		return nil
	}
	return err
}

func (d *DroppedDevices) Dropped(ctx context.Context, deviceToken string) (bool, error) {
	err := d.c.FindOne(ctx, bson.D{{Key: "_id", Value: DeviceFingerprint(deviceToken)}}).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	return err == nil, err
}

// Erase deletes what the dev sender kept for these addresses (an
// account's purge). Deliveries are stripped instead (Deliveries.Forget):
// their ids stop a redelivered event from being sent twice.
func (o *Outbox) Erase(ctx context.Context, addresses []string) error {
	if len(addresses) == 0 {
		return nil
	}
	_, err := o.c.DeleteMany(ctx, bson.D{{Key: "to", Value: bson.D{{Key: "$in", Value: addresses}}}})
	return err
}
