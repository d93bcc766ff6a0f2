package blob

import (
	"context"
	"errors"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
)

// DeleteOrphans is the handler of a service's consumer of its own
// ObjectOrphaned events: it deletes the object a state change stopped
// referring to. A missing object is success; any other failure is retried
// (events.Consume), then dead-lettered.
func DeleteOrphans(del func(ctx context.Context, key string) error) func(context.Context, contract.Event) error {
	return func(ctx context.Context, ev contract.Event) error {
		var d contract.ObjectOrphaned
		if err := ev.Decode(&d); err != nil || d.Key == "" {
			return errors.Join(events.ErrPermanent, errors.New("undecodable orphaned object"), err)
		}
		return del(ctx, d.Key)
	}
}
