package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// rawGets sends one prepared GET per call over a kept-alive connection of
// each sender's own, reading only the status and skipping the body.
// net/http's client cost the generator about as much CPU as the server it
// measured, and generator and servers share the machine's cores, so the
// generator's weight showed in every server's tail.
type rawGets struct {
	addr  string
	req   []byte
	conns []*rawConn
}

type rawConn struct {
	c net.Conn
	r *bufio.Reader
}

// newRawGets prepares GET base+path with token for senders senders; base
// is "http://host:port", as the bench's servers report it.
func newRawGets(base, path, token string, senders int) *rawGets {
	host := strings.TrimPrefix(base, "http://")
	var b bytes.Buffer
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: application/json\r\n", path, host)
	if token != "" {
		fmt.Fprintf(&b, "Authorization: Bearer %s\r\n", token)
	}
	b.WriteString("\r\n")
	return &rawGets{addr: host, req: b.Bytes(), conns: make([]*rawConn, senders)}
}

// get sends the request as sender w and wants status want.
func (g *rawGets) get(w, want int) error {
	rc := g.conns[w]
	if rc == nil {
		c, err := net.DialTimeout("tcp", g.addr, 10*time.Second)
		if err != nil {
			return err
		}
		rc = &rawConn{c: c, r: bufio.NewReaderSize(c, 16<<10)}
		g.conns[w] = rc
	}
	_ = rc.c.SetDeadline(time.Now().Add(10 * time.Second))
	status, err := g.exchange(rc)
	if err != nil {
		_ = rc.c.Close()
		g.conns[w] = nil
		return err
	}
	if status != want {
		return fmt.Errorf("GET %s: status %d", g.addr, status)
	}
	return nil
}

func (g *rawGets) exchange(rc *rawConn) (int, error) {
	if _, err := rc.c.Write(g.req); err != nil {
		return 0, err
	}
	return readResponse(rc.r)
}

// close ends every sender's connection.
func (g *rawGets) close() {
	for i, rc := range g.conns {
		if rc != nil {
			_ = rc.c.Close()
			g.conns[i] = nil
		}
	}
}

var errResponse = errors.New("malformed HTTP response")

// readResponse reads one HTTP/1.1 response and returns its status; the
// body is skipped, by Content-Length or chunk by chunk.
func readResponse(r *bufio.Reader) (int, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, errResponse
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, errResponse
	}
	length, chunked := -1, false
	for {
		h, err := r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return 0, errResponse
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return 0, errResponse
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		}
	}
	switch {
	case chunked:
		return status, skipChunks(r)
	case length >= 0:
		_, err = r.Discard(length)
		return status, err
	default:
		return 0, errResponse // a keep-alive answer says its length
	}
}

func skipChunks(r *bufio.Reader) error {
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		sizeHex, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		size, err := strconv.ParseInt(string(sizeHex), 16, 64)
		if err != nil || size < 0 {
			return errResponse
		}
		if size == 0 {
			// Trailers, then the blank line.
			for {
				t, err := r.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimRight(t, "\r\n")) == 0 {
					return nil
				}
			}
		}
		if _, err := r.Discard(int(size) + 2); err != nil {
			return err
		}
	}
}
