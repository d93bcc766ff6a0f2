package testkit

import "go.uber.org/goleak"

// GoleakOptions are the goleak options that tolerate the goroutines the
// embedded servers leave behind by design, so a test package can check that
// everything else stopped:
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(m, testkit.GoleakOptions()...) }
func GoleakOptions() []goleak.Option {
	return []goleak.Option{
		// versitygw serves with fasthttp. Its Date-header ticker is started once
		// per process and never stops; its worker-pool janitor notices a stop
		// only after sleeping out the idle period (10s).
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	}
}
