package app

import (
	"context"
	"testing"
	"time"

	"github.com/dossapp/backend/pkg/blob"
	"github.com/dossapp/backend/pkg/contract"
)

func TestPage(t *testing.T) {
	n := func(v int) *int { return &v }
	for _, tc := range []struct {
		name          string
		req           contract.ListDocumentsRequest
		limit, offset int
		bad           []string
	}{
		{"defaults", contract.ListDocumentsRequest{}, 20, 0, nil},
		{"bounds", contract.ListDocumentsRequest{Limit: n(100), Offset: n(0)}, 100, 0, nil},
		{"smallest", contract.ListDocumentsRequest{Limit: n(1), Offset: n(7)}, 1, 7, nil},
		{"limit zero", contract.ListDocumentsRequest{Limit: n(0)}, 0, 0, []string{"limit"}},
		{"limit too big", contract.ListDocumentsRequest{Limit: n(101)}, 0, 0, []string{"limit"}},
		{"both negative", contract.ListDocumentsRequest{Limit: n(-1), Offset: n(-1)}, 0, 0, []string{"limit", "offset"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			limit, offset, err := Page(tc.req)
			if tc.bad == nil {
				if err != nil || limit != tc.limit || offset != tc.offset {
					t.Fatalf("got %d %d %v", limit, offset, err)
				}
				return
			}
			e := contract.AsError(err)
			for _, f := range tc.bad {
				if e.Code != contract.Invalid || len(e.Fields[f]) == 0 {
					t.Fatalf("want errors.%s: %v", f, err)
				}
			}
		})
	}
}

func TestWindow(t *testing.T) {
	items := []int{1, 2, 3}
	for _, tc := range []struct{ offset, limit, want int }{{0, 20, 3}, {1, 1, 1}, {2, 5, 1}, {3, 1, 0}, {9, 1, 0}} {
		if got := len(window(items, tc.offset, tc.limit)); got != tc.want {
			t.Errorf("window(%d, %d) = %d items, want %d", tc.offset, tc.limit, got, tc.want)
		}
	}
}

// statOnly records which keys reached the store.
type statOnly struct {
	Files
	asked []string
}

func (s *statOnly) Stat(_ context.Context, key string) (blob.Info, error) {
	s.asked = append(s.asked, key)
	return blob.Info{}, blob.ErrNotFound
}

// A presigned key is bound to its user: anyone else's, or anything shaped
// differently, is refused before the store is asked.
func TestPresignedKeyIsBoundToItsUser(t *testing.T) {
	files := &statOnly{}
	s := &Service{Files: files, Limits: Limits{MaxBytes: 1 << 20, UploadTTL: time.Minute}}
	mine := incomingPrefix(7) + "0123456789abcdef0123456789abcdef"
	for _, k := range []string{
		incomingPrefix(8) + "0123456789abcdef0123456789abcdef",
		incomingPrefix(7) + "../8/0123456789abcdef0123456789ab",
		incomingPrefix(7) + "0123456789ABCDEF0123456789abcdef",
		incomingPrefix(7),
		"documents/7/0123456789abcdef0123456789abcdef.jpg",
		"incoming/77/0123456789abcdef0123456789abcdef",
	} {
		_, _, err := s.source(context.Background(), 7, contract.AddDocumentRequest{File: k, TypeID: 1})
		if e := contract.AsError(err); e.Code != contract.Invalid || len(e.Fields["file"]) == 0 {
			t.Fatalf("%s: %v", k, err)
		}
	}
	if len(files.asked) != 0 {
		t.Fatalf("the store was asked about %v", files.asked)
	}
	_, _, err := s.source(context.Background(), 7, contract.AddDocumentRequest{File: mine, TypeID: 1})
	if e := contract.AsError(err); e.Code != contract.Invalid || len(files.asked) != 1 {
		t.Fatalf("own key not yet uploaded: %v %v", err, files.asked)
	}
}
