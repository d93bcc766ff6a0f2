package testkit_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/dossapp/backend/pkg/embedded/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testkit.GoleakOptions()...)
}
