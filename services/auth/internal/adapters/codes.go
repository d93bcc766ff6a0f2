package adapters

import (
	"context"
	"regexp"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/services/auth/internal/domain"
)

// ChainedCodes keeps each code as a chain of one version under
// "purpose:address/id" (a new code never inherits or resets the attempts
// of the last one), so its events wait in it for the relay as an account
// change's do; and per purpose and address a pointer to the newest,
// "latest:purpose:address". Both reads are so _id lookups: a query on the
// codes would scan every code of two days on FerretDB v1.
type ChainedCodes struct{ chain *mongox.Versioned[domain.OTP] }

func NewChainedCodes(c *mongo.Collection) ChainedCodes {
	return ChainedCodes{chain: mongox.NewVersioned[domain.OTP](c)}
}

func (c ChainedCodes) EnsureIndexes(ctx context.Context) error { return c.chain.EnsureIndexes(ctx) }

// Collection is where the relay finds the events waiting in codes.
func (c ChainedCodes) Collection() *mongo.Collection { return c.chain.Collection() }

// RelayTo has r publish a code's events as soon as it is stored.
func (c ChainedCodes) RelayTo(r *mongox.Relay) { c.chain.RelayTo(r) }

func codeKey(purpose, address, id string) string { return purpose + ":" + address + "/" + id }

func newestID(purpose, address string) string { return "latest:" + purpose + ":" + address }

// newest is the pointer to a purpose and address's newest code. It is
// "published" so the relay passes it by.
type newest struct {
	OTPID     string    `bson:"otp_id"`
	At        time.Time `bson:"at"`
	Published bool      `bson:"published"`
}

func (c ChainedCodes) Issue(ctx context.Context, otp domain.OTP, evs []contract.Event) error {
	if err := c.chain.Put(ctx, codeKey(otp.Purpose, otp.Address, otp.ID), 0, otp, evs); err != nil {
		return err
	}
	// A pointer that failed to move leaves the code before it the newest:
	// the new code is refused as wrong and its owner asks for another,
	// which is better than a code sent with an error answered.
	_, _ = c.Collection().UpdateOne(ctx, bson.M{"_id": newestID(otp.Purpose, otp.Address)},
		bson.M{"$set": newest{OTPID: otp.ID, At: time.Now().UTC(), Published: true}}, options.UpdateOne().SetUpsert(true))
	return nil
}

func (c ChainedCodes) Get(ctx context.Context, purpose, address, id string) (domain.OTP, error) {
	otp, _, err := c.chain.Get(ctx, codeKey(purpose, address, id))
	return otp, err
}

func (c ChainedCodes) Newest(ctx context.Context, purpose, address string) (domain.OTP, error) {
	n, err := findOne[newest](ctx, c.Collection(), "newest code", bson.M{"_id": newestID(purpose, address)})
	if err != nil {
		return domain.OTP{}, err
	}
	return c.Get(ctx, purpose, address, n.OTPID)
}

// EraseSubject scans the collection (a filter on the state): it runs once
// per account deletion. The heads hold the state too.
func (c ChainedCodes) EraseSubject(ctx context.Context, subject string) error {
	_, err := c.Collection().DeleteMany(ctx, bson.M{"$or": bson.A{bson.M{"state.subject": subject}, bson.M{"head_state.subject": subject}}})
	return mongox.Wrap("erase codes", err)
}

// EraseAddress removes the versions, heads and pointer of every code sent
// to address, all of whose _ids hold ":address" followed by "/" or their
// end.
func (c ChainedCodes) EraseAddress(ctx context.Context, address string) error {
	_, err := c.Collection().DeleteMany(ctx, bson.M{"_id": bson.M{"$regex": ":" + regexp.QuoteMeta(address) + "(/|$)"}})
	return mongox.Wrap("erase codes", err)
}

// Sweep deletes the codes, heads and pointers older than age whose events
// are out: codes expire after minutes, and their MACs need not outlive
// the checks that read them.
func (c ChainedCodes) Sweep(ctx context.Context, age time.Duration) error {
	_, err := c.Collection().DeleteMany(ctx, bson.M{"at": bson.M{"$lt": time.Now().Add(-age)}, "published": true})
	return mongox.Wrap("sweep codes", err)
}
