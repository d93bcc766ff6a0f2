package embedded_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
)

// A request that reached no replica (the one it was routed to had just
// unsubscribed) is sent again, and the caller gets its answer instead of a
// 503 after its whole timeout; the handler runs once, and sees the call
// of the copy lost (natsx.Caller.Call: a handler can tell a copy of a
// request it ran from a new one).
func TestUnreceivedRequestIsSentAgain(t *testing.T) {
	n := startNATS(t)
	const name, subject = "receipts", "receipts.v1.work"
	nc := connect(t, n.URL)
	// The replica that goes away: a member of the queue group that takes
	// one request and leaves without a word, as a request dropped on the
	// way to a replica that had unsubscribed.
	swallowed := swallowOne(t, nc, name, subject)
	client := connect(t, n.URL)

	before := natsx.Resent()
	type answer struct {
		out string
		err error
	}
	got := make(chan answer, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		defer cancel()
		out, err := natsx.Call[string, string](ctx, client, subject, "x")
		got <- answer{out, err}
	}()
	lostCall := <-swallowed
	// Only now does a replica that answers join.
	var handled atomic.Int64
	var call atomic.Value
	ms, err := natsx.NewService(nc, zap.NewNop(), natsx.ServiceConfig{Name: name, Version: "0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ms.Stop() })
	if err := natsx.Handle(ms, subject, func(ctx context.Context, in string) (string, error) {
		handled.Add(1)
		call.Store(natsx.CallerFrom(ctx).Call)
		return "done:" + in, nil
	}); err != nil {
		t.Fatal(err)
	}
	a := <-got
	if a.err != nil || a.out != "done:x" {
		t.Fatalf("call = %q, %v; want the answer of the replica that was there", a.out, a.err)
	}
	if got := call.Load(); lostCall == "" || got != lostCall {
		t.Errorf("the copy answered names call %q, the copy lost %q; want one call, named", got, lostCall)
	}
	if h := handled.Load(); h != 1 {
		t.Errorf("handled %d times; want once", h)
	}
	if natsx.Resent() <= before {
		t.Error("the request was not counted as sent again")
	}
}

// A request a replica has received is never sent again, however long its
// handler takes: the receipt came back at once, so the call only waits.
func TestReceivedRequestIsNotSentAgain(t *testing.T) {
	n := startNATS(t)
	const name, subject = "slowreceipts", "slowreceipts.v1.work"
	nc := connect(t, n.URL)
	ms, err := natsx.NewService(nc, zap.NewNop(), natsx.ServiceConfig{Name: name, Version: "0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ms.Stop() })
	var handled atomic.Int64
	if err := natsx.Handle(ms, subject, func(_ context.Context, in string) (string, error) {
		handled.Add(1)
		// The work itself takes longer than a caller waits for a receipt
		// (receiptWait is 1 s): the length of the work, not a wait for an
		// outcome.
		time.Sleep(2500 * time.Millisecond)
		return "done:" + in, nil
	}); err != nil {
		t.Fatal(err)
	}
	client := connect(t, n.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	out, err := natsx.Call[string, string](ctx, client, subject, "x")
	if err != nil || out != "done:x" {
		t.Fatalf("call = %q, %v", out, err)
	}
	if h := handled.Load(); h != 1 {
		t.Errorf("a received request ran %d times; want once", h)
	}
}

// No replica at all is still a 503 at once, not a wait for receipts.
func TestNoReplicaIsUnavailableAtOnce(t *testing.T) {
	n := startNATS(t)
	client := connect(t, n.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	start := time.Now()
	_, err := natsx.Call[string, string](ctx, client, "nobody.v1.work", "x")
	if e := contract.AsError(err); e.Code != contract.Unavailable || e.RetryAfter == 0 {
		t.Fatalf("err = %v; want unavailable with a Retry-After", err)
	}
	if time.Since(start) > 900*time.Millisecond {
		t.Errorf("no responders took %s; want an answer before the first receipt wait ends", time.Since(start))
	}
}

// A call whose connection drops before any replica had its request waits
// for the reconnection and sends it again, instead of failing with a 503
// (the NATS node it was on died: a meta leader killed in the cluster).
func TestUnreceivedRequestSurvivesAReconnect(t *testing.T) {
	n := startNATS(t)
	const name, subject = "reconnects", "reconnects.v1.work"
	nc, err := nats.Connect(n.URL, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	swallowed := swallowOne(t, nc, name, subject)
	client, _, err := natsx.Connect(n.URL, "reconnects-client", nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	got := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := natsx.Call[string, string](ctx, client, subject, "x")
		if err == nil && out != "done:x" {
			err = errors.New("answer " + out)
		}
		got <- err
	}()
	<-swallowed
	// The server goes away under the call, and comes back.
	if err := n.Restart(); err != nil {
		t.Fatal(err)
	}
	var handled atomic.Int64
	ms, err := natsx.NewService(nc, zap.NewNop(), natsx.ServiceConfig{Name: name, Version: "0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ms.Stop() })
	if err := natsx.Handle(ms, subject, func(_ context.Context, in string) (string, error) {
		handled.Add(1)
		return "done:" + in, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("call across a reconnect: %v; want the answer", err)
	}
	if h := handled.Load(); h != 1 {
		t.Errorf("handled %d times; want once", h)
	}
}

// A replica that got a call twice (its receipt was slow, so the caller
// sent it again) may still answer it: each copy has a reply subject of its
// own, and the server's allowance of ReplyMessages per reply subject is not
// spent on the two receipts (found in CI: a login's answer refused, 503).
func TestASlowReceiptDoesNotCostTheAnswer(t *testing.T) {
	n := startNATS(t)
	replica := connectAs(t, n, contract.ServiceAuth)
	copies := make(chan *nats.Msg, 4)
	sub, err := replica.QueueSubscribe(contract.AuthLogin, contract.ServiceAuth+contract.QueueGroupSuffix, func(m *nats.Msg) { copies <- m })
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := replica.Flush(); err != nil {
		t.Fatal(err)
	}
	caller := connectAs(t, n, contract.BusGateway)
	got := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		defer cancel()
		out, err := natsx.Call[string, string](ctx, caller, contract.AuthLogin, "x")
		if err == nil && out != "answer" {
			err = errors.New("answer " + out)
		}
		got <- err
	}()
	// The first copy gets no receipt until the second has come.
	first, second := <-copies, <-copies
	receipt := func(m *nats.Msg) *nats.Msg {
		return &nats.Msg{Subject: m.Reply, Header: nats.Header{contract.HeaderReceipt: []string{"1"}}}
	}
	for _, r := range []*nats.Msg{receipt(first), receipt(second), {Subject: first.Reply, Data: []byte(`"answer"`)}} {
		if err := replica.PublishMsg(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-got; err != nil {
		t.Fatalf("the call of a slow receipt: %v; want its answer", err)
	}
}

// swallowOne joins service name's queue group on subject with a member
// that takes one request and leaves without a word, as a request dropped
// on its way to a replica that had just unsubscribed; the channel closes
// when it has, holding the request's HeaderCall.
func swallowOne(t *testing.T, nc *nats.Conn, name, subject string) <-chan string {
	t.Helper()
	swallowed := make(chan string, 1)
	hole, err := nc.QueueSubscribe(subject, name+contract.QueueGroupSuffix, func(m *nats.Msg) {
		swallowed <- m.Header.Get(contract.HeaderCall)
		close(swallowed)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := hole.AutoUnsubscribe(1); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return swallowed
}
