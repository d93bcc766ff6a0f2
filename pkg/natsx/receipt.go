package natsx

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/dossapp/backend/pkg/contract"
)

// A request can be lost before any replica has it: while a replica on
// another NATS node unsubscribes (a rolling restart), the node that routes
// the request may still count it as a member of the queue group, and the
// request it sends there finds nobody and is dropped. The caller would wait
// out its whole timeout for an answer that cannot come, then answer 503.
//
// So a call asks for a receipt (contract.HeaderReceipt): a replica answers
// it with an empty message the moment the request reaches it, before any
// work. A call with no receipt and no answer after receiptWait was never
// received by anyone, and is sent again (to the whole queue group, so to a
// replica that is still there); one with a receipt waits for its answer as
// before. Only an unreceived request is repeated, so no handler runs twice
// for one call, unless a receipt takes longer than receiptWait to come
// back (a replica so overloaded that its dispatch stalls for a second):
// then the request may run on two replicas and the first answer wins, which
// every handler tolerates, as it tolerates a client retrying after a 503.
//
// A call whose connection drops before its receipt came waits for the
// reconnection and sends its request again (guard.go): it is the retry the
// client would have made after a 503, made by the caller instead.

// receiptWait is how long a call waits for a receipt before it sends the
// request again; a receipt comes back within milliseconds.
const receiptWait = time.Second

// maxSends bounds how often one call sends its request.
const maxSends = 3

// resent counts requests sent again for want of a receipt (tests).
var resent atomic.Int64

// Resent is how many requests this process sent again since it started.
func Resent() int { return int(resent.Load()) }

// replies is a connection's subscription for the answers and receipts of
// its calls: one wildcard subscription, a channel per call in flight.
type replies struct {
	prefix string
	mu     sync.Mutex
	calls  map[string]chan *nats.Msg
}

var repliesByConn sync.Map // *nats.Conn → *replies

func repliesFor(nc *nats.Conn) (*replies, error) {
	if v, ok := repliesByConn.Load(nc); ok {
		return v.(*replies), nil
	}
	r := &replies{prefix: nc.NewInbox(), calls: map[string]chan *nats.Msg{}}
	sub, err := nc.Subscribe(r.prefix+".*", r.deliver)
	if err != nil {
		return nil, err
	}
	if v, loaded := repliesByConn.LoadOrStore(nc, r); loaded {
		_ = sub.Unsubscribe()
		return v.(*replies), nil
	}
	return r, nil
}

func (r *replies) deliver(m *nats.Msg) {
	token := m.Subject[len(r.prefix)+1:]
	r.mu.Lock()
	ch := r.calls[token]
	r.mu.Unlock()
	if ch == nil {
		return // answered already, or given up on
	}
	select {
	case ch <- m:
	default: // a late duplicate; the call has what it needs
	}
}

// request publishes msg and returns its answer: the first message to its
// reply subject that is not a receipt.
func request(ctx context.Context, nc *nats.Conn, msg *nats.Msg) (*nats.Msg, error) {
	r, err := repliesFor(nc)
	if err != nil {
		return nil, err
	}
	// Each send has a reply subject of its own, all read by this call: the
	// server lets a replica send ReplyMessages to the reply subject of a
	// request it received, and two copies under one subject at one replica
	// (a resend after a slow receipt) spent that on receipts, so the answer
	// was refused (seen in CI: a login's answer lost to a permissions
	// violation, and a 503).
	ch := make(chan *nats.Msg, 2*maxSends+2)
	var tokens []string
	defer func() {
		r.mu.Lock()
		for _, t := range tokens {
			delete(r.calls, t)
		}
		r.mu.Unlock()
	}()
	msg.Header.Set(contract.HeaderReceipt, "1")
	msg.Header.Set(contract.HeaderCall, nuid.Next()) // the same in every copy sent below

	g := guardOf(nc)
	var lost <-chan struct{} // the connection dropped (nil: not watched)
	if g != nil {
		lost = g.current().Done()
	}
	timer := time.NewTimer(receiptWait)
	defer timer.Stop()
	for sends := 1; ; {
		token := nuid.Next()
		r.mu.Lock()
		r.calls[token] = ch
		r.mu.Unlock()
		tokens = append(tokens, token)
		msg.Reply = r.prefix + "." + token
		if err := nc.PublishMsg(msg); err != nil {
			return nil, err
		}
		received := false
	wait:
		for {
			select {
			case m := <-ch:
				switch {
				case m.Header.Get(contract.HeaderReceipt) != "":
					received = true
					timer.Stop()
				case len(m.Data) == 0 && m.Header.Get("Status") == "503":
					return nil, nats.ErrNoResponders
				default:
					return m, nil
				}
			case <-timer.C:
				if received || sends >= maxSends {
					continue
				}
				break wait
			case <-lost:
				if received {
					return nil, errDisconnected // its answer went with the connection
				}
				select {
				case <-g.reconnect():
				case <-ctx.Done():
					return nil, errDisconnected
				}
				lost = g.current().Done()
				sends-- // not a receipt that failed to come: the client's own retry
				break wait
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		sends++
		resent.Add(1)
		timer.Reset(receiptWait)
	}
}
