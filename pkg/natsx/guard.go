package natsx

import (
	"context"
	"errors"
	"sync"

	"github.com/nats-io/nats.go"
)

// A request published just before the connection drops is never answered:
// the server that held it is gone, and its reply with it. So a connection
// made by Connect keeps an epoch that ends at every disconnect; calls in
// flight fail then, with a 503 the client can retry at once, instead of
// waiting out their timeout, and calls made while disconnected fail at
// once instead of queueing.
type guard struct {
	mu     sync.Mutex
	ctx    context.Context
	cancel context.CancelFunc
}

var guards sync.Map // *nats.Conn → *guard

var errDisconnected = errors.New("nats: disconnected while the request was in flight")

func newGuard() *guard {
	g := &guard{}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	return g
}

func (g *guard) current() context.Context {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ctx
}

func (g *guard) disconnected() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cancel()
}

func (g *guard) reconnected() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cancel()
	g.ctx, g.cancel = context.WithCancel(context.Background())
}

// watch installs the guard's handlers on nc, keeping any the caller set.
func watch(nc *nats.Conn) {
	g := newGuard()
	guards.Store(nc, g)
	prevDisconnect, prevReconnect, prevClosed := nc.Opts.DisconnectedErrCB, nc.Opts.ReconnectedCB, nc.Opts.ClosedCB
	nc.SetDisconnectErrHandler(func(c *nats.Conn, err error) {
		g.disconnected()
		if prevDisconnect != nil {
			prevDisconnect(c, err)
		}
	})
	nc.SetReconnectHandler(func(c *nats.Conn) {
		g.reconnected()
		if prevReconnect != nil {
			prevReconnect(c)
		}
	})
	nc.SetClosedHandler(func(c *nats.Conn) {
		g.disconnected()
		guards.Delete(c)
		if prevClosed != nil {
			prevClosed(c)
		}
	})
}

// guarded returns ctx ending also when nc's connection drops, and whether
// nc is connected at all.
func guarded(ctx context.Context, nc *nats.Conn) (context.Context, func(), bool) {
	if !nc.IsConnected() {
		return ctx, func() {}, false
	}
	v, ok := guards.Load(nc)
	if !ok {
		return ctx, func() {}, true
	}
	epoch := v.(*guard).current()
	cctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(epoch, func() { cancel(errDisconnected) })
	return cctx, func() { stop(); cancel(nil) }, true
}
