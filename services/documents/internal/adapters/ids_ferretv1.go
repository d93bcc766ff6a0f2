package adapters

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/services/documents/internal/app"
)

// FerretV1IDs allocates document ids as the sequence numbers of one
// ledger chain: the unique insert of entry n gives n to one caller only,
// where a MongoDB-native adapter would $inc a counter.
type FerretV1IDs struct {
	ledger *mongox.Ledger
}

var _ app.IDs = (*FerretV1IDs)(nil)

// idChain is the ledger chain whose sequence numbers are the ids; its
// name is stored, so it never changes.
const idChain = "document-id"

func NewFerretV1IDs(c *mongo.Collection) *FerretV1IDs {
	return &FerretV1IDs{ledger: mongox.NewLedger(c, nil)}
}

func (i *FerretV1IDs) EnsureIndexes(ctx context.Context) error { return i.ledger.EnsureIndexes(ctx) }

func (i *FerretV1IDs) Next(ctx context.Context) (int64, error) {
	e, err := i.ledger.Append(ctx, idChain, func(*mongox.Tail, time.Time) (string, error) { return "id", nil })
	return e.Seq, err
}
