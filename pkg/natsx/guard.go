package natsx

import (
	"context"
	"errors"
	"sync"

	"github.com/nats-io/nats.go"
)

// A request published just before the connection drops is never answered:
// the server that held it is gone, and its reply with it. So a connection
// made by Dial keeps an epoch that ends at every disconnect. A call in
// flight then whose request a replica had received fails at once, with a
// 503 the client can retry, instead of waiting out its timeout; one with
// no receipt yet waits for the reconnection and sends its request again
// (receipt.go), as the client would have after the 503. Calls made while
// disconnected fail at once instead of queueing.
type guard struct {
	mu     sync.Mutex
	ctx    context.Context
	cancel context.CancelFunc
	up     chan struct{} // closed while connected; a new one at each disconnect
}

var guards sync.Map // *nats.Conn → *guard

var errDisconnected = errors.New("nats: disconnected while the request was in flight")

func newGuard() *guard {
	g := &guard{}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	g.up = make(chan struct{})
	close(g.up)
	return g
}

func (g *guard) current() context.Context {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ctx
}

// reconnect is closed once the connection is up again (at once if it is).
func (g *guard) reconnect() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.up
}

func (g *guard) disconnected() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cancel()
	select {
	case <-g.up:
		g.up = make(chan struct{})
	default:
	}
}

func (g *guard) reconnected() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cancel()
	g.ctx, g.cancel = context.WithCancel(context.Background())
	select {
	case <-g.up:
	default:
		close(g.up)
	}
}

func guardOf(nc *nats.Conn) *guard {
	if v, ok := guards.Load(nc); ok {
		return v.(*guard)
	}
	return nil
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
		repliesByConn.Delete(c) // its reply subscription went with it
		if prevClosed != nil {
			prevClosed(c)
		}
	})
}
