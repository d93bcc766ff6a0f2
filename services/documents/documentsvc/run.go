// Package documentsvc runs the documents service: config, connections,
// endpoints, the consumer that deletes orphaned objects, the event relay,
// the sweeper of unclaimed uploads, and an orderly shutdown.
package documentsvc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dossapp/backend/pkg/blob"
	"github.com/dossapp/backend/pkg/config"
	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/pkg/service"
	"github.com/dossapp/backend/pkg/uploads"
	"github.com/dossapp/backend/services/documents/internal/adapters"
	"github.com/dossapp/backend/services/documents/internal/app"
)

// maxLinkTTL is the longest a document link or an upload link may live.
const maxLinkTTL = 15 * time.Minute

// Run serves until ctx ends.
func Run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	e := config.New(getenv)
	common := e.ReadCommon()
	e.RequireBusSigner(common) // it tells profile of a user's documents
	s3 := blob.ReadConfig(e)
	limits := app.Limits{
		MaxBytes:      e.Int64("DOSS_DOCUMENT_MAX_BYTES", 10<<20),
		MaxPerAccount: e.Int("DOSS_DOCUMENTS_PER_ACCOUNT", 20),
		LinkTTL:       min(e.Duration("DOSS_DOCUMENT_LINK_TTL", maxLinkTTL), maxLinkTTL),
		UploadTTL:     min(e.Duration("DOSS_DOCUMENT_UPLOAD_TTL", maxLinkTTL), maxLinkTTL),
		// Each link may put DOSS_DOCUMENT_MAX_BYTES in the bucket until the
		// sweep: 30 an hour is 300 MB a user at most.
		UploadLinksPerHour: e.Int("DOSS_UPLOAD_LINKS_PER_HOUR", 30),
	}
	sweep := readSweep(e)
	if err := e.Err(); err != nil {
		return err
	}
	if limits.LinkTTL < time.Second || limits.UploadTTL < time.Second || limits.MaxBytes < 1 || limits.MaxPerAccount < 1 {
		return fmt.Errorf("DOSS_DOCUMENT_LINK_TTL, DOSS_DOCUMENT_UPLOAD_TTL (≥ 1s), DOSS_DOCUMENT_MAX_BYTES and DOSS_DOCUMENTS_PER_ACCOUNT (≥ 1) must be positive")
	}
	if err := sweep.check(limits.UploadTTL); err != nil {
		return err
	}
	files, err := blob.New(s3)
	if err != nil {
		return err
	}
	return service.Run(ctx, getenv, stdout, common, service.Declaration{
		Name: contract.ServiceDocuments, Version: "0.1.0", Description: "identity documents and their review",
		Build: func(ctx context.Context, c service.Conns) (service.Parts, error) {
			return build(ctx, c, files, limits, sweep)
		},
	})
}

// build opens the documents stores and lists what the service runs.
func build(ctx context.Context, c service.Conns, files *blob.Store, limits app.Limits, sweep sweepConfig) (service.Parts, error) {
	if _, err := uploads.Store(ctx, c.JS, uploads.DocumentsBucket, c.Common.StreamReplicas); err != nil {
		return service.Parts{}, fmt.Errorf("uploads store: %w", err)
	}
	docs, queue, ids := adapters.NewFerretV1Documents(c.DB.Collection("documents_docs")), adapters.NewReviewQueue(c.DB.Collection("documents_ids")), adapters.NewFerretV1IDs(c.DB.Collection("documents_seq"))
	counters := mongox.NewLedgerLimits(c.DB.Collection("documents_limits"), nil)
	svc := &app.Service{
		Docs: docs, Queue: queue, IDs: ids,
		Files: files,
		Uploads: func(ctx context.Context, name string, max int64) ([]byte, error) {
			return uploads.Take(ctx, c.JS, uploads.DocumentsBucket, name, "file", max)
		},
		Profile:  profileFrom(c.NC),
		Accounts: accountsFrom(c.NC),
		Limits:   limits,
		Counters: counters,
		EraseObjects: func(ctx context.Context, prefix string) error {
			_, err := files.DeleteOlder(ctx, prefix, time.Now().Add(24*time.Hour))
			return err
		},
	}
	if err := errors.Join(docs.EnsureIndexes(ctx), ids.EnsureIndexes(ctx), queue.EnsureIndexes(ctx), counters.EnsureIndexes(ctx)); err != nil {
		return service.Parts{}, err
	}
	relay := mongox.NewRelay(events.NewPublisher(c.JS), c.Log, docs.Collection())
	docs.RelayTo(relay)
	return service.Parts{
		Endpoints: routes(svc),
		Consumers: []events.ConsumerConfig{
			{Durable: contract.DurableDocumentsObjects, Handler: blob.DeleteOrphans(files.Delete), MaxDeliver: 20},
			{
				Durable: contract.DurableDocumentsErasure,
				Handler: events.Erasure(events.NewPublisher(c.JS), contract.ServiceDocuments, svc.EraseAccount), MaxDeliver: 50,
			},
		},
		Loops: []func(context.Context){
			relay.Run,
			func(ctx context.Context) { sweepIncoming(ctx, files, c.Log, sweep) },
		},
	}, nil
}

// profileFrom tells the profile service a user's documents, as the user.
func profileFrom(nc *nats.Conn) func(context.Context, contract.DocumentsSnapshot) error {
	return func(ctx context.Context, snap contract.DocumentsSnapshot) error {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		_, err := natsx.Call[contract.DocumentsSnapshot, struct{}](ctx, nc, contract.ProfileApplyDocuments, snap)
		return err
	}
}

// accountsFrom asks auth for an account.
func accountsFrom(nc *nats.Conn) func(context.Context, int64) (contract.Account, error) {
	return func(ctx context.Context, userID int64) (contract.Account, error) {
		return natsx.Call[contract.AccountGetRequest, contract.Account](ctx, nc, contract.AuthAccountGet, contract.AccountGetRequest{UserID: userID})
	}
}
