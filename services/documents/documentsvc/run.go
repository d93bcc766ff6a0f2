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
	"github.com/dossapp/backend/pkg/logx"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/pkg/obs"
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
	log := logx.New(stdout, common.Dev(), contract.ServiceDocuments)
	defer func() { _ = log.Sync() }()

	nc, js, err := natsx.Dial(common.Bus, contract.ServiceDocuments, log)
	if err != nil {
		return err
	}
	defer func() { _ = nc.Drain() }()
	ops, err := obs.Start(getenv, contract.ServiceDocuments, obs.NATSReady(nc))
	if err != nil {
		return err
	}
	defer ops.Stop()
	if err := events.EnsureStreams(ctx, js, common.StreamReplicas); err != nil {
		return err
	}
	if _, err := uploads.Store(ctx, js, uploads.DocumentsBucket, common.StreamReplicas); err != nil {
		return fmt.Errorf("uploads store: %w", err)
	}
	client, db, err := mongox.Connect(ctx, common.MongoURI, common.MongoDB)
	if err != nil {
		return err
	}
	defer func() { _ = client.Disconnect(context.Background()) }()

	docs, queue, ids := adapters.NewFerretV1Documents(db.Collection("documents_docs")), adapters.NewReviewQueue(db.Collection("documents_ids")), adapters.NewFerretV1IDs(db.Collection("documents_seq"))
	svc := &app.Service{
		Docs: docs, Queue: queue, IDs: ids,
		Files: files,
		Uploads: func(ctx context.Context, name string, max int64) ([]byte, error) {
			return uploads.Take(ctx, js, uploads.DocumentsBucket, name, "file", max)
		},
		Profile:  profileFrom(nc),
		Accounts: accountsFrom(nc),
		Limits:   limits,
		EraseObjects: func(ctx context.Context, prefix string) error {
			_, err := files.DeleteOlder(ctx, prefix, time.Now().Add(24*time.Hour))
			return err
		},
	}
	if err := errors.Join(docs.EnsureIndexes(ctx), ids.EnsureIndexes(ctx), queue.EnsureIndexes(ctx)); err != nil {
		return err
	}
	relay := mongox.NewRelay(events.NewPublisher(js), log, docs.Collection())
	docs.RelayTo(relay)

	ms, err := natsx.NewService(nc, log, natsx.ServiceConfig{Name: contract.ServiceDocuments, Version: "0.1.0", Description: "identity documents and their review"})
	if err != nil {
		return err
	}
	if err := routes(ms, svc); err != nil {
		_ = ms.Stop()
		return err
	}
	if err := natsx.AddHealth(ms, contract.ServiceDocuments, map[string]natsx.Check{"store": mongox.Pinger(client)}); err != nil {
		_ = ms.Stop()
		return err
	}
	consumer, err := events.Consume(ctx, js, log, events.ConsumerConfig{
		Durable: contract.DurableDocumentsObjects, Subjects: []string{contract.EventDocumentObjectOrphaned}, Handler: blob.DeleteOrphans(files.Delete), MaxDeliver: 20,
	})
	if err != nil {
		_ = ms.Stop()
		return err
	}
	erasure, err := events.Consume(ctx, js, log, events.ConsumerConfig{
		Durable: contract.DurableDocumentsErasure, Subjects: []string{contract.EventAccountDeletionDue},
		Handler: events.Erasure(events.NewPublisher(js), contract.ServiceDocuments, svc.EraseAccount), MaxDeliver: 50,
	})
	if err != nil {
		consumer.Stop()
		_ = ms.Stop()
		return err
	}
	rctx, stopRelay := context.WithCancel(context.Background())
	relayDone := make(chan struct{})
	go func() { defer close(relayDone); relay.Run(rctx) }()
	sweepDone := make(chan struct{})
	go func() { defer close(sweepDone); sweepIncoming(ctx, files, log, sweep) }()

	log.Info("documents ready")
	<-ctx.Done()
	log.Info("documents stopping")
	erasure.Stop()
	consumer.Stop()
	_ = ms.Stop()
	stopRelay()
	<-relayDone
	<-sweepDone
	return nil
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
