package obs

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Every series lives in the process's default registry: one process is
// one service in production, and `make run` tells them apart by the
// service label.

// Version is the build's version, set by the image build
// (-ldflags "-X github.com/dossapp/backend/pkg/obs.Version=1.2.3").
var Version = "dev"

var buildInfo = promauto.NewGaugeVec(prometheus.GaugeOpts{
	Name: "doss_build_info",
	Help: "1, labelled with the service and the version it was built as.",
}, []string{"service", "version"})

// CodeOK is the code label of a request that succeeded.
const CodeOK = "ok"

// NATSRequests is the latency of every NATS endpoint by service, endpoint
// (its subject) and outcome (CodeOK or the contract error code); its
// _count by code is the error count.
var NATSRequests = promauto.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "doss_nats_request_duration_seconds",
	Help:    "Time to answer a NATS request, by service, endpoint and code (ok or the error code).",
	Buckets: []float64{.002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
}, []string{"service", "endpoint", "code"})

// HTTPRequests is the gateway's latency by route template, method and
// status.
var HTTPRequests = promauto.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "doss_http_request_duration_seconds",
	Help:    "Time to answer an HTTP request, by route template, method and status.",
	Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
}, []string{"route", "method", "status"})

// lag samples the pending counts of durable consumers when scraped, so
// the numbers are as fresh as the scrape and cost nothing in between.
type lag struct {
	mu        sync.Mutex
	consumers map[[2]string]watched
	nextID    uint64
	pending   *prometheus.Desc
	ackWait   *prometheus.Desc
	redeliver *prometheus.Desc
}

// watched holds one fetch per replica watching a consumer; a scrape asks
// them in turn until one answers, so a stopped replica's closed
// connection does not hide the series.
type watched map[uint64]func(context.Context) (ConsumerState, error)

// ConsumerState is what a scrape reports of one durable consumer.
type ConsumerState struct {
	Pending     uint64 // in the stream, not yet delivered
	AckPending  int    // delivered, not yet acknowledged
	Redelivered int    // delivered more than once, not yet acknowledged
}

var consumerLag = func() *lag {
	l := &lag{
		consumers: map[[2]string]watched{},
		pending: prometheus.NewDesc("doss_jetstream_consumer_pending_messages",
			"Messages of the stream the durable consumer has not been delivered yet (its lag).", []string{"stream", "consumer"}, nil),
		ackWait: prometheus.NewDesc("doss_jetstream_consumer_ack_pending_messages",
			"Messages delivered to the consumer and not yet acknowledged.", []string{"stream", "consumer"}, nil),
		redeliver: prometheus.NewDesc("doss_jetstream_consumer_redelivered_messages",
			"Messages delivered more than once and not yet acknowledged.", []string{"stream", "consumer"}, nil),
	}
	prometheus.MustRegister(l)
	return l
}()

func (l *lag) Describe(ch chan<- *prometheus.Desc) {
	ch <- l.pending
	ch <- l.ackWait
	ch <- l.redeliver
}

func (l *lag) Collect(ch chan<- prometheus.Metric) {
	l.mu.Lock()
	consumers := make(map[[2]string][]func(context.Context) (ConsumerState, error), len(l.consumers))
	for k, w := range l.consumers {
		for _, f := range w {
			consumers[k] = append(consumers[k], f)
		}
	}
	l.mu.Unlock()
	for k, fetches := range consumers {
		st, ok := firstAnswer(fetches)
		if !ok {
			continue // an absent series says "unknown"; a zero would lie
		}
		ch <- prometheus.MustNewConstMetric(l.pending, prometheus.GaugeValue, float64(st.Pending), k[0], k[1])
		ch <- prometheus.MustNewConstMetric(l.ackWait, prometheus.GaugeValue, float64(st.AckPending), k[0], k[1])
		ch <- prometheus.MustNewConstMetric(l.redeliver, prometheus.GaugeValue, float64(st.Redelivered), k[0], k[1])
	}
}

func firstAnswer(fetches []func(context.Context) (ConsumerState, error)) (ConsumerState, bool) {
	for _, f := range fetches {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := f(ctx)
		cancel()
		if err == nil {
			return st, true
		}
	}
	return ConsumerState{}, false
}

// WatchConsumer reports a durable consumer's state at every scrape until
// the returned function is called. Replicas in one process share one
// series per consumer.
func WatchConsumer(stream, durable string, fetch func(context.Context) (ConsumerState, error)) (unwatch func()) {
	k := [2]string{stream, durable}
	consumerLag.mu.Lock()
	defer consumerLag.mu.Unlock()
	if consumerLag.consumers[k] == nil {
		consumerLag.consumers[k] = watched{}
	}
	consumerLag.nextID++
	id := consumerLag.nextID
	consumerLag.consumers[k][id] = fetch
	return func() {
		consumerLag.mu.Lock()
		defer consumerLag.mu.Unlock()
		delete(consumerLag.consumers[k], id)
		if len(consumerLag.consumers[k]) == 0 {
			delete(consumerLag.consumers, k)
		}
	}
}
