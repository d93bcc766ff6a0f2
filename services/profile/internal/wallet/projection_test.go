package wallet

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/dossapp/backend/pkg/contract"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func tp(t time.Time) *time.Time { return &t }

const day = 24 * time.Hour

func credit(id, balance string, amount int64, when time.Time, expires *time.Time) Posting {
	return walletPosting(contract.WalletPosted{ID: id, UserID: 1, Balance: balance, Entry: contract.EntryCredit, Amount: amount, At: when, ExpiresAt: expires}, when)
}

func debitOf(id, balance string, amount int64, when time.Time) Posting {
	return walletPosting(contract.WalletPosted{ID: id, UserID: 1, Balance: balance, Entry: contract.EntryDebit, Amount: amount, At: when}, when)
}

func orderOf(id, order, status string, amount int64, when time.Time) Posting {
	return orderPosting(contract.OrderPosted{ID: id, UserID: 1, OrderID: order, Status: status, Amount: amount, At: when}, when)
}

func date(s string) *string { return &s }

func TestProjectWallet(t *testing.T) {
	money, points, cash := contract.BalanceTSSMoney, contract.BalanceTSSPoints, contract.BalanceCashback
	for _, tc := range []struct {
		name       string
		postings   []Posting
		now        time.Time
		balance    string
		want       Balance
		shortfalls map[string]int64
	}{
		{name: "nothing", now: t0, balance: money, want: Balance{}},
		{
			name:     "credits without expiry",
			postings: []Posting{credit("a", cash, 10050, at(0), nil), credit("b", cash, 5000, at(time.Hour), nil)},
			now:      at(day), balance: cash, want: Balance{Available: 15050},
		},
		{
			name: "earliest expiry shows next, later ones count in the balance",
			postings: []Posting{
				credit("a", money, 10000, at(0), tp(at(30*day))),
				credit("b", money, 40000, at(0), tp(at(60*day))),
				credit("c", money, 500, at(0), nil),
			},
			now: at(day), balance: money, want: Balance{Available: 50500, NextToExpire: 10000, NextExpiry: date("2026-03-31")},
		},
		{
			name: "credits expiring on the same day add up",
			postings: []Posting{
				credit("a", points, 100, at(0), tp(at(10*day))),
				credit("b", points, 250, at(0), tp(at(10*day+3*time.Hour))),
				credit("c", points, 999, at(0), tp(at(11*day))),
			},
			now: at(day), balance: points, want: Balance{Available: 1349, NextToExpire: 350, NextExpiry: date("2026-03-11")},
		},
		{
			name:     "expiring exactly now no longer counts",
			postings: []Posting{credit("a", money, 10000, at(0), tp(at(day))), credit("b", money, 300, at(0), tp(at(2*day)))},
			now:      at(day), balance: money, want: Balance{Available: 300, NextToExpire: 300, NextExpiry: date("2026-03-03")},
		},
		{
			name:     "a moment before its expiry it still counts",
			postings: []Posting{credit("a", money, 10000, at(0), tp(at(day)))},
			now:      at(day - time.Millisecond), balance: money, want: Balance{Available: 10000, NextToExpire: 10000, NextExpiry: date("2026-03-02")},
		},
		{
			name:     "already expired: nothing left, nothing to expire",
			postings: []Posting{credit("a", money, 10000, at(0), tp(at(day)))},
			now:      at(5 * day), balance: money, want: Balance{},
		},
		{
			name: "a debit takes the earliest expiry first",
			postings: []Posting{
				credit("late", money, 5000, at(0), tp(at(60*day))),
				credit("never", money, 5000, at(0), nil),
				credit("soon", money, 3000, at(time.Hour), tp(at(10*day))),
				debitOf("d", money, 4000, at(2*time.Hour)),
			},
			// soon (3000) is used up, then 1000 of late; never is untouched.
			now: at(day), balance: money, want: Balance{Available: 9000, NextToExpire: 4000, NextExpiry: date("2026-04-30")},
		},
		{
			name: "credits that never expire are taken last",
			postings: []Posting{
				credit("never", money, 5000, at(0), nil),
				credit("soon", money, 1000, at(0), tp(at(10*day))),
				debitOf("d", money, 1500, at(time.Hour)),
			},
			now: at(day), balance: money, want: Balance{Available: 4500},
		},
		{
			name: "a debit after a credit expired cannot use it",
			postings: []Posting{
				credit("gone", money, 5000, at(0), tp(at(day))),
				credit("kept", money, 2000, at(0), nil),
				debitOf("d", money, 3000, at(2*day)),
			},
			now: at(3 * day), balance: money, want: Balance{}, shortfalls: map[string]int64{"wallet:d": 1000},
		},
		{
			name:     "a debit beyond the balance stops at zero and is flagged",
			postings: []Posting{credit("a", cash, 1000, at(0), nil), debitOf("d", cash, 2500, at(time.Hour))},
			now:      at(day), balance: cash, want: Balance{}, shortfalls: map[string]int64{"wallet:d": 1500},
		},
		{
			name:     "a later credit is not eaten by an earlier shortfall",
			postings: []Posting{debitOf("d", cash, 2500, at(0)), credit("a", cash, 1000, at(time.Hour), nil)},
			now:      at(day), balance: cash, want: Balance{Available: 1000}, shortfalls: map[string]int64{"wallet:d": 2500},
		},
		{
			name: "events fed out of order apply in the order they happened",
			postings: []Posting{
				debitOf("d", money, 1000, at(2*time.Hour)),
				credit("a", money, 3000, at(time.Hour), tp(at(5*day))),
			},
			now: at(day), balance: money, want: Balance{Available: 2000, NextToExpire: 2000, NextExpiry: date("2026-03-06")},
		},
		{
			name: "balances are separate",
			postings: []Posting{
				credit("a", cash, 1000, at(0), nil),
				debitOf("d", money, 500, at(time.Hour)),
			},
			now: at(day), balance: cash, want: Balance{Available: 1000}, shortfalls: map[string]int64{"wallet:d": 500},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Project(tc.postings, tc.now)
			got := f.Balances[tc.balance]
			if got.Available != tc.want.Available || got.NextToExpire != tc.want.NextToExpire || str(got.NextExpiry) != str(tc.want.NextExpiry) {
				t.Fatalf("got %+v (%s), want %+v (%s)", got, str(got.NextExpiry), tc.want, str(tc.want.NextExpiry))
			}
			if len(f.Shortfalls) != len(tc.shortfalls) {
				t.Fatalf("shortfalls %v, want %v", f.Shortfalls, tc.shortfalls)
			}
			for id, v := range tc.shortfalls {
				if f.Shortfalls[id] != v {
					t.Fatalf("shortfalls %v, want %v", f.Shortfalls, tc.shortfalls)
				}
			}
		})
	}
}

func str(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func TestProjectOrders(t *testing.T) {
	ps := []Posting{
		orderOf("1", "A", contract.OrderPlaced, 10000, at(0)),
		orderOf("2", "A", contract.OrderCompleted, 10000, at(time.Hour)),
		orderOf("3", "B", contract.OrderPlaced, 5000, at(0)),
		orderOf("4", "B", contract.OrderCancelled, 0, at(time.Hour)),
		orderOf("5", "C", contract.OrderCompleted, 2550, at(2*time.Hour)),
		// Delivered late: C was placed before it completed.
		orderOf("6", "C", contract.OrderPlaced, 2550, at(time.Hour)),
		// Completed then cancelled (refunded): no longer successful.
		orderOf("7", "D", contract.OrderCompleted, 700, at(0)),
		orderOf("8", "D", contract.OrderCancelled, 0, at(time.Hour)),
		orderOf("9", "E", contract.OrderPlaced, 100, at(0)),
	}
	f := Project(ps, at(day))
	if f.OrderCount != 5 || f.SuccessfulOrders != 2 || f.TotalSpending != 12550 {
		t.Fatalf("orders %d, successful %d, spending %d; want 5, 2, 12550", f.OrderCount, f.SuccessfulOrders, f.TotalSpending)
	}
	// Events with the same time: the later status wins whatever the
	// delivery order.
	f = Project([]Posting{orderOf("b", "X", contract.OrderCompleted, 100, at(0)), orderOf("a", "X", contract.OrderPlaced, 100, at(0))}, at(day))
	if f.SuccessfulOrders != 1 {
		t.Fatalf("same-time statuses: %+v", f)
	}
}

func TestAmountJSON(t *testing.T) {
	for v, want := range map[contract.Amount]string{0: "0.00", 5: "0.05", 15050: "150.50", 100: "1.00", -250: "-2.50", 123456789: "1234567.89"} {
		b, err := json.Marshal(v)
		if err != nil || string(b) != want {
			t.Errorf("%d → %s, want %s", v, b, want)
		}
		var back contract.Amount
		if err := json.Unmarshal(b, &back); err != nil || back != v {
			t.Errorf("%s read back as %d (%v)", b, back, err)
		}
	}
	for in, want := range map[string]contract.Amount{"12": 1200, "12.5": 1250, "0.07": 7} {
		var a contract.Amount
		if err := json.Unmarshal([]byte(in), &a); err != nil || a != want {
			t.Errorf("%s → %d (%v), want %d", in, a, err, want)
		}
	}
	for _, bad := range []string{"1.234", `"1.00"`, "1e3", "-", ".5", "true"} {
		var a contract.Amount
		if err := json.Unmarshal([]byte(bad), &a); err == nil {
			t.Errorf("%s accepted as %d", bad, a)
		}
	}
}

func TestPostingDigestSpotsReusedIDs(t *testing.T) {
	a := credit("x", contract.BalanceCashback, 100, at(0), nil)
	if b := credit("x", contract.BalanceCashback, 100, at(time.Hour), nil); a.Digest != b.Digest {
		t.Fatal("the same posting delivered later looks different")
	}
	if b := credit("x", contract.BalanceCashback, 101, at(0), nil); a.Digest == b.Digest {
		t.Fatal("a different amount under the same id looks the same")
	}
}

func TestValidatePostings(t *testing.T) {
	good := contract.WalletPosted{ID: "p-1", UserID: 7, Balance: contract.BalanceTSSMoney, Entry: contract.EntryCredit, Amount: 100, ExpiresAt: tp(at(day))}
	if err := ValidateWallet(good); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		edit  func(*contract.WalletPosted)
		field string
	}{
		{"no id", func(w *contract.WalletPosted) { w.ID = "" }, "id"},
		{"id with a newline", func(w *contract.WalletPosted) { w.ID = "a\nb" }, "id"},
		{"no user", func(w *contract.WalletPosted) { w.UserID = 0 }, "user_id"},
		{"unknown balance", func(w *contract.WalletPosted) { w.Balance = "gold" }, "balance"},
		{"unknown entry", func(w *contract.WalletPosted) { w.Entry = "refund" }, "entry"},
		{"zero amount", func(w *contract.WalletPosted) { w.Amount = 0 }, "amount"},
		{"negative amount", func(w *contract.WalletPosted) { w.Amount = -5 }, "amount"},
		{"huge amount", func(w *contract.WalletPosted) { w.Amount = MaxAmount + 1 }, "amount"},
		{"expiring debit", func(w *contract.WalletPosted) { w.Entry = contract.EntryDebit }, "expires_at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := good
			tc.edit(&w)
			wantField(t, ValidateWallet(w), tc.field)
		})
	}
	o := contract.OrderPosted{ID: "o-1", UserID: 7, OrderID: "A", Status: contract.OrderCompleted, Amount: 100}
	if err := ValidateOrder(o); err != nil {
		t.Fatal(err)
	}
	o.Status = "shipped"
	wantField(t, ValidateOrder(o), "status")
}

func wantField(t *testing.T, err error, field string) {
	t.Helper()
	e := contract.AsError(err)
	if err == nil || e.Code != contract.Invalid || len(e.Fields[field]) == 0 {
		t.Fatalf("err %v, want a 422 on %s", err, field)
	}
}
