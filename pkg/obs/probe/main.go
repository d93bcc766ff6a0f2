// Command probe is the health check of the service images, which have no
// shell or curl: it GETs a URL (default the ops listener's /readyz) and
// exits 0 on a 2xx answer, 1 otherwise.
//
//	probe [http://127.0.0.1:9090/readyz]
package main

import (
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	url := "http://127.0.0.1:9090/readyz"
	if len(os.Args) > 1 {
		url = os.Args[1]
	}
	client := &http.Client{Timeout: 3 * time.Second}
	res, err := client.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
	_ = res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		fmt.Fprintln(os.Stderr, "probe:", url, res.Status)
		os.Exit(1)
	}
}
