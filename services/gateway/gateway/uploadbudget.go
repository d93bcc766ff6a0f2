package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"golang.org/x/sync/semaphore"

	"github.com/dossapp/backend/pkg/contract"
)

// uploadBudget bounds the upload bytes in flight through this replica, per
// user and in all: 60 concurrent 10 MiB uploads once took the process to
// 1.4 GiB. An upload reserves what its request may carry before a byte of
// it is read, and gives it back when its handler returns, whatever the
// outcome (stored, refused, or the client gone).
type uploadBudget struct {
	perUser int64
	// wait is how long an upload may queue for the replica's budget; one
	// over its user's budget is refused at once.
	wait  time.Duration
	total *semaphore.Weighted
	mu    sync.Mutex
	users map[int64]int64
}

// uploadRetryAfter is the Retry-After of a refused upload, in seconds: an
// upload of the largest size takes about that long.
const uploadRetryAfter = 2

var uploadBytesInFlight = promauto.NewGauge(prometheus.GaugeOpts{
	Name: "doss_gateway_upload_bytes_in_flight",
	Help: "Upload bytes reserved by the requests under way in this replica.",
})

var uploadsRefused = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "doss_gateway_uploads_refused_total",
	Help: "Uploads refused with a 429 because a budget was spent, by budget (user, replica).",
}, []string{"budget"})

func newUploadBudget(total, perUser int64, wait time.Duration) *uploadBudget {
	return &uploadBudget{perUser: perUser, wait: wait, total: semaphore.NewWeighted(total), users: map[int64]int64{}}
}

// acquire reserves n bytes for user; release gives them back (once, however
// often it is called).
func (b *uploadBudget) acquire(ctx context.Context, user, n int64) (release func(), err error) {
	b.mu.Lock()
	if b.users[user]+n > b.perUser {
		b.mu.Unlock()
		uploadsRefused.WithLabelValues("user").Inc()
		return nil, &contract.Error{Code: contract.RateLimited, RetryAfter: uploadRetryAfter,
			Message: "You have too many uploads under way. Please wait for them to finish."}
	}
	b.users[user] += n
	b.mu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, b.wait)
	err = b.total.Acquire(wctx, n)
	cancel()
	if err != nil {
		b.giveBack(user, n)
		uploadsRefused.WithLabelValues("replica").Inc()
		return nil, &contract.Error{Code: contract.RateLimited, RetryAfter: uploadRetryAfter,
			Message: "Too many uploads are under way. Please try again in a moment."}
	}
	uploadBytesInFlight.Add(float64(n))
	return sync.OnceFunc(func() {
		b.total.Release(n)
		b.giveBack(user, n)
		uploadBytesInFlight.Sub(float64(n))
	}), nil
}

func (b *uploadBudget) giveBack(user, n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.users[user] -= n; b.users[user] <= 0 {
		delete(b.users, user)
	}
}

// inFlight is what user holds, and whether anyone holds anything (tests).
func (b *uploadBudget) inFlight(user int64) (int64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.users[user], len(b.users) > 0
}
