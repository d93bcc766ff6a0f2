package main

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The lean client reads what real servers send: a sized body, a chunked
// one, an error status, and answers one after another on one connection.
func TestRawGetsReadsKeptAliveAnswers(t *testing.T) {
	big := strings.Repeat("x", 64<<10) // past net/http's buffer: sent chunked
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/small":
			fmt.Fprint(w, `{"id":1}`)
		case "/big":
			fmt.Fprint(w, big)
		default:
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	for _, c := range []struct {
		path string
		want int
	}{{"/small", 200}, {"/big", 200}, {"/gone", 503}} {
		g := newRawGets(srv.URL, c.path, "tok", 1)
		for i := range 3 { // the same connection each time
			if err := g.get(0, c.want); err != nil {
				t.Fatalf("%s #%d: %v", c.path, i, err)
			}
		}
		if err := g.get(0, 201); err == nil || !strings.Contains(err.Error(), "status") {
			t.Fatalf("%s: a wrong status was not reported: %v", c.path, err)
		}
		g.close()
	}
	g := newRawGets(srv.URL, "/small", "", 1)
	defer g.close()
	if err := g.get(0, 200); err == nil {
		t.Fatal("a 401 passed for a 200")
	}
}

func TestReadResponseRefusesGarbage(t *testing.T) {
	for _, in := range []string{"SSH-2.0\r\n\r\n", "HTTP/1.1 200 OK\r\nno-colon\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n"} {
		if _, err := readResponse(bufio.NewReader(strings.NewReader(in))); err == nil {
			t.Fatalf("%q was read as an answer", in)
		}
	}
}
