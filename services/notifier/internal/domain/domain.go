// Package domain holds what the notifier sends and the ports it sends
// through.
package domain

import (
	"context"
	"errors"
)

// Message is one rendered notification, ready for a channel's provider.
// Code is the one-time code it carries, if any: dev mode shows it in the
// outbox; nothing else may log it.
type Message struct {
	Channel string
	To      string
	Subject string
	Body    string
	Code    string
	// Who it is for and what it is, kept with the delivery for the user's
	// data export: the account (UserID, or the UUID a code names) and the
	// template. Shown is the message as the export shows it: with any code
	// replaced.
	UserID   int64
	UserUUID string
	Template string
	Shown    Shown
}

// Shown is a message's text without its code.
type Shown struct{ Subject, Body string }

// Sender delivers a message on one channel. An error means "not sent" and
// the event is retried.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// SenderFunc adapts a function to Sender.
type SenderFunc func(ctx context.Context, m Message) error

func (f SenderFunc) Send(ctx context.Context, m Message) error { return f(ctx, m) }

// Claim states of a delivery.
const (
	StateSending = "sending"
	StateSent    = "sent"
)

// ErrClaimed means another delivery of the same event holds the claim.
var ErrClaimed = errors.New("delivery already claimed")

// Deliveries is the idempotency record, one per event id.
type Deliveries interface {
	// Claim records that eventID is being sent; ErrClaimed with the current
	// state when it already is (or was).
	// The claim keeps m's recipient and Shown text, never its code.
	Claim(ctx context.Context, eventID string, m Message) (state string, err error)
	MarkSent(ctx context.Context, eventID string) error
	// Release forgets a claim whose send failed, so a retry may claim again.
	Release(ctx context.Context, eventID string) error
}

// ErrUnregistered means the push provider says the device token is dead
// (the app was uninstalled or the token replaced): no send to it can ever
// succeed, so it is dropped rather than retried.
var ErrUnregistered = errors.New("device token unregistered")

// ErrRejected means the provider refused the message as invalid: retrying
// the same request cannot succeed.
var ErrRejected = errors.New("message rejected by the provider")

// DroppedDevices remembers the push tokens the provider declared dead, so
// that no later notification is sent (and retried) to them.
type DroppedDevices interface {
	Drop(ctx context.Context, deviceToken string) error
	Dropped(ctx context.Context, deviceToken string) (bool, error)
}
