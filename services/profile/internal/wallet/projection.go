package wallet

import (
	"cmp"
	"slices"
	"time"

	"github.com/dossapp/backend/pkg/contract"
)

// Posting is one wallet or order event as profile stored it. Its _id is
// the kind and the sender's idempotency id, so a duplicated or replayed
// event is stored once: the insert is the only atomic step FerretDB has.
type Posting struct {
	ID        string     `bson:"_id"` // "wallet:<id>" or "order:<id>"
	UserID    int64      `bson:"user_id"`
	Kind      string     `bson:"kind"` // postingWallet or postingOrder
	Balance   string     `bson:"balance,omitempty"`
	Entry     string     `bson:"entry,omitempty"`
	Amount    int64      `bson:"amount"`
	ExpiresAt *time.Time `bson:"expires_at,omitempty"`
	OrderID   string     `bson:"order_id,omitempty"`
	Status    string     `bson:"status,omitempty"`
	Reason    string     `bson:"reason,omitempty"`
	At        time.Time  `bson:"at"`
	Received  time.Time  `bson:"received"`
	// Digest is the posting's content, so that an id reused for a
	// different posting is noticed rather than silently dropped.
	Digest string `bson:"digest"`
	// Shortfall is what a debit could not take when it was applied.
	Shortfall int64 `bson:"shortfall,omitempty"`
}

const (
	postingWallet = "wallet"
	postingOrder  = "order"
)

// Balance is one wallet balance at a moment.
type Balance struct {
	Available int64
	// NextToExpire is what is left of the credits that expire first, on
	// NextExpiry (a UTC date); zero and nil when nothing will expire.
	NextToExpire int64
	NextExpiry   *string
}

// Figures is the projection of a user's postings at a moment.
type Figures struct {
	Balances         map[string]Balance
	OrderCount       int
	SuccessfulOrders int
	TotalSpending    int64
	// Shortfalls maps a debit's posting id to what it could not take.
	Shortfalls map[string]int64
}

// lot is what is left of one credit.
type lot struct {
	left    int64
	expires *time.Time
}

// usable reports whether the lot still counts at t: a credit expiring at
// exactly t no longer does.
func (l *lot) usable(t time.Time) bool {
	return l.left > 0 && (l.expires == nil || t.Before(*l.expires))
}

// Project folds postings into figures as of now. It is pure: the postings
// are the truth and expiry is evaluated here, at read time, so no job has
// to run for a balance to drop when a credit expires. Postings apply in
// the order they happened; a debit takes from the credits usable at its
// time, earliest expiry first (those that never expire last), so what is
// shown as expiring next is what really is left of it, and it never takes
// more than there is: the rest is its shortfall.
func Project(postings []Posting, now time.Time) Figures {
	ps := slices.Clone(postings)
	slices.SortStableFunc(ps, func(a, b Posting) int {
		return cmp.Or(a.At.Compare(b.At), statusRank(a.Status)-statusRank(b.Status), a.Received.Compare(b.Received), cmp.Compare(a.ID, b.ID))
	})
	f := Figures{Balances: map[string]Balance{}, Shortfalls: map[string]int64{}}
	lots := map[string][]*lot{}
	type order struct {
		status string
		amount int64
	}
	orders := map[string]*order{}
	for _, p := range ps {
		switch p.Kind {
		case postingWallet:
			if p.Entry == contract.EntryCredit {
				lots[p.Balance] = append(lots[p.Balance], &lot{left: p.Amount, expires: p.ExpiresAt})
				continue
			}
			if short := debit(lots[p.Balance], p.Amount, p.At); short > 0 {
				f.Shortfalls[p.ID] = short
			}
		case postingOrder:
			o := orders[p.OrderID]
			if o == nil {
				o = &order{}
				orders[p.OrderID] = o
			}
			o.status = p.Status
			if p.Amount > 0 {
				o.amount = p.Amount
			}
		}
	}
	for _, name := range []string{contract.BalanceCashback, contract.BalanceTSSMoney, contract.BalanceTSSPoints} {
		f.Balances[name] = balanceAt(lots[name], now)
	}
	for _, o := range orders {
		f.OrderCount++
		if o.status == contract.OrderCompleted {
			f.SuccessfulOrders++
			f.TotalSpending += o.amount
		}
	}
	return f
}

// statusRank orders an order's events that carry the same time.
func statusRank(s string) int {
	switch s {
	case contract.OrderCompleted:
		return 1
	case contract.OrderCancelled:
		return 2
	}
	return 0
}

// debit takes amount from the lots usable at t, earliest expiry first,
// and returns what it could not take.
func debit(lots []*lot, amount int64, t time.Time) int64 {
	usable := make([]*lot, 0, len(lots))
	for _, l := range lots {
		if l.usable(t) {
			usable = append(usable, l)
		}
	}
	slices.SortStableFunc(usable, func(a, b *lot) int {
		switch {
		case a.expires == nil && b.expires == nil:
			return 0
		case a.expires == nil:
			return 1
		case b.expires == nil:
			return -1
		}
		return a.expires.Compare(*b.expires)
	})
	for _, l := range usable {
		take := min(l.left, amount)
		l.left -= take
		amount -= take
		if amount == 0 {
			break
		}
	}
	return amount
}

func balanceAt(lots []*lot, now time.Time) Balance {
	var b Balance
	for _, l := range lots {
		if !l.usable(now) {
			continue
		}
		b.Available += l.left
		if l.expires == nil {
			continue
		}
		day := l.expires.UTC().Format(time.DateOnly)
		switch {
		case b.NextExpiry == nil || day < *b.NextExpiry:
			b.NextExpiry, b.NextToExpire = &day, l.left
		case day == *b.NextExpiry:
			b.NextToExpire += l.left
		}
	}
	return b
}
