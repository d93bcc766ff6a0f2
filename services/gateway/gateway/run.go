// Package gateway is the HTTP front door: it authenticates, checks the
// shape of a request, sends it as a NATS command, and maps the answer (or
// the error code) back to HTTP. It holds no business rules.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/dossapp/backend/pkg/config"
	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
	"github.com/dossapp/backend/pkg/logx"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/pkg/obs"
)

// Gateway is one replica's state.
type Gateway struct {
	nc       *nats.Conn
	log      *zap.Logger
	dev      bool
	verifier *verifier
	cache    *profileCache
	// documents keeps each user's first page of documents.
	documents *documentsCache
	// imageMaxBytes bounds a photo upload; that route has its own limit
	// instead of the JSON body limit.
	imageMaxBytes int64
	// documentMaxBytes bounds a document upload (DOSS_DOCUMENT_MAX_BYTES).
	documentMaxBytes int64
	// budget bounds the upload bytes in flight, per user and in all.
	budget *uploadBudget
	needs  []string
	// adminTokens admit the admin API; none disables it.
	adminTokens []adminToken
	// publicURL is where a pass's QR code points (DOSS_PUBLIC_URL).
	publicURL string
	publisher *events.Publisher
	// draining is set when the gateway was told to stop: it still serves,
	// but says it is not ready, so a load balancer sends it nothing new.
	draining atomic.Bool
}

type settings struct {
	common         config.Common
	addr           string
	bodyLimit      string
	trustedProxies string
	// drain is how long a stopping gateway keeps serving while it reports
	// itself not ready (DOSS_SHUTDOWN_DRAIN).
	drain time.Duration
}

// Run serves HTTP until ctx ends. ready, when given, receives the bound
// address once the gateway accepts connections.
func Run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	return RunWith(ctx, getenv, stdout, nil)
}

// RunWith is Run that reports the listening address (tests, make run).
func RunWith(ctx context.Context, getenv func(string) string, stdout io.Writer, ready func(addr string)) error {
	e := config.New(getenv)
	s := settings{common: e.ReadCommon()}
	e.RequireBusSigner(s.common)
	defAddr := ":8080"
	if s.common.Dev() {
		defAddr = "127.0.0.1:8080"
	}
	s.addr = e.String("DOSS_HTTP_ADDR", defAddr)
	s.bodyLimit = e.String("DOSS_HTTP_BODY_LIMIT", "64K")
	s.trustedProxies = e.String("DOSS_TRUSTED_PROXIES", "")
	defDrain := 3 * time.Second
	if s.common.Dev() {
		defDrain = 0 // make run stops at once
	}
	s.drain = e.Duration("DOSS_SHUTDOWN_DRAIN", defDrain)
	cacheTTL := e.Duration("DOSS_PROFILE_CACHE_TTL", 10*time.Minute)
	cacheMax := e.Int("DOSS_PROFILE_CACHE_ENTRIES", 100_000)
	docsTTL := e.Duration("DOSS_DOCUMENTS_CACHE_TTL", 10*time.Minute)
	docsMax := e.Int("DOSS_DOCUMENTS_CACHE_ENTRIES", 100_000)
	imageMax := e.Int64("DOSS_IMAGE_MAX_BYTES", 5<<20)
	documentMax := e.Int64("DOSS_DOCUMENT_MAX_BYTES", 10<<20)
	largest := max(imageMax, documentMax) + multipartSlack
	inFlight := e.Int64("DOSS_UPLOAD_BYTES_IN_FLIGHT", 6*largest)
	inFlightPerUser := e.Int64("DOSS_UPLOAD_BYTES_IN_FLIGHT_PER_USER", 2*largest)
	uploadWait := e.Duration("DOSS_UPLOAD_QUEUE_WAIT", 5*time.Second)
	publicURL := strings.TrimRight(e.String("DOSS_PUBLIC_URL", "http://localhost:8080"), "/")
	adminTokens, err := parseAdminTokens(e.String("DOSS_ADMIN_TOKENS", ""))
	if err := errors.Join(e.Err(), err); err != nil {
		return err
	}
	if inFlight < largest || inFlightPerUser < largest {
		return fmt.Errorf("DOSS_UPLOAD_BYTES_IN_FLIGHT and DOSS_UPLOAD_BYTES_IN_FLIGHT_PER_USER must hold the largest upload (%d bytes)", largest)
	}
	log := logx.New(stdout, s.common.Dev(), "gateway")
	defer func() { _ = log.Sync() }()

	cache, docs := newProfileCache(cacheTTL, cacheMax), newDocumentsCache(docsTTL, docsMax)
	v := newVerifier(nil, log)
	nc, js, err := natsx.Dial(s.common.Bus, contract.BusGateway, log, nats.ReconnectHandler(func(*nats.Conn) {
		// Events and revocations may have gone by while this replica was
		// away: drop every cached profile and replay the revocations.
		cache.flush()
		docs.flush()
		v.rewatch()
	}))
	if err != nil {
		return err
	}
	defer func() { _ = nc.Drain() }()
	v.nc, v.replicas = nc, s.common.StreamReplicas
	g := &Gateway{nc: nc, log: log, dev: s.common.Dev(), verifier: v, cache: cache, documents: docs, imageMaxBytes: imageMax,
		needs: []string{contract.ServiceAuth, contract.ServiceProfile, contract.ServiceDocuments}, adminTokens: adminTokens, publicURL: publicURL, publisher: events.NewPublisher(js),
		documentMaxBytes: documentMax, budget: newUploadBudget(inFlight, inFlightPerUser, uploadWait)}
	natsReady := obs.NATSReady(nc)
	ops, err := obs.Start(getenv, "gateway", func() error {
		if g.draining.Load() {
			return errDraining
		}
		return natsReady()
	})
	if err != nil {
		return err
	}
	defer ops.Stop()
	if err := errors.Join(cache.watch(nc, log, profileOf, contract.EventProfileUpdated),
		docs.watch(nc, log, documentsOf, contract.EventDocumentAdded, contract.EventDocumentDeleted, contract.EventDocumentReviewed, contract.EventDocumentsAccountErased)); err != nil {
		return err
	}
	wctx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	if err := g.verifier.watchRevocations(wctx, js); err != nil {
		return fmt.Errorf("revocation watch: %w", err)
	}

	ech := echo.New()
	ech.HideBanner, ech.HidePort = true, true
	ech.HTTPErrorHandler = renderError
	if s.trustedProxies != "" {
		var opts []echo.TrustOption
		for _, cidr := range strings.Split(s.trustedProxies, ",") {
			_, n, err := net.ParseCIDR(strings.TrimSpace(cidr))
			if err != nil {
				return fmt.Errorf("DOSS_TRUSTED_PROXIES: %w", err)
			}
			opts = append(opts, echo.TrustIPRange(n))
		}
		ech.IPExtractor = echo.ExtractIPFromXFFHeader(append(opts, echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false))...)
	} else {
		ech.IPExtractor = echo.ExtractIPDirect() // X-Forwarded-For is not trusted
	}
	ech.Use(observe(log))
	ech.Use(g.closeWhileDraining)
	ech.Use(boundedURL)
	ech.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, DisablePrintStack: true,
		LogErrorFunc: func(c echo.Context, err error, _ []byte) error {
			logx.From(c.Request().Context()).Error("panic", zap.Error(err))
			return err
		}}))
	ech.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{
		Limit:   s.bodyLimit,
		Skipper: func(c echo.Context) bool { return c.Path() == imageRoute || c.Path() == documentsRoute },
	}))
	g.routes(ech)

	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.addr, err)
	}
	srv := &http.Server{Handler: ech, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("gateway listening", zap.String("addr", ln.Addr().String()), zap.Bool("dev", g.dev))
	if ready != nil {
		ready(ln.Addr().String())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	if s.drain > 0 {
		// A load balancer takes a replica out once its readiness fails;
		// closing the listener at once would instead break the requests
		// it is still sending here (and those on kept-alive connections).
		g.draining.Store(true)
		log.Info("gateway draining", zap.Duration("for", s.drain))
		select {
		case err := <-errc:
			return err
		case <-time.After(s.drain):
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// maxURLBytes bounds the request target: no route takes more (ids, paging,
// a platform), and what a route reads from it must fit in one NATS message.
const maxURLBytes = 8 << 10

var errDraining = errors.New("the gateway is stopping")

// closeWhileDraining asks a client to close its connection after each
// answer while the gateway drains, so it reconnects through the load
// balancer to a replica that stays.
func (g *Gateway) closeWhileDraining(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if g.draining.Load() {
			c.Response().Header().Set(echo.HeaderConnection, "close")
		}
		return next(c)
	}
}

func boundedURL(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if len(c.Request().RequestURI) > maxURLBytes {
			return echo.NewHTTPError(http.StatusRequestURITooLong, "The request URL is too long.")
		}
		return next(c)
	}
}
