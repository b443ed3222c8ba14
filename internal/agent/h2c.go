package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// h2cExchanger sends h2c requests from openLoop's workers over an
// http.Client whose transport is h2cConns.
type h2cExchanger struct {
	client  *http.Client
	targets []vegeta.Target
}

func (h *h2cExchanger) exchange(ctx context.Context, target int) outcome {
	t := h.targets[target]
	req, err := http.NewRequestWithContext(ctx, t.Method, t.URL, bytes.NewReader(t.Body))
	if err != nil {
		return outcome{err: err}
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return outcome{err: err}
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return outcome{err: fmt.Errorf("read response body: %w", err)}
	}
	return outcome{code: uint16(resp.StatusCode), bytesIn: uint32(min(n, maxBody))}
}

func (h *h2cExchanger) close() { h.client.CloseIdleConnections() }

// h2cConns is the round tripper of h2c (vegeta's or h2cExchanger's): exactly n HTTP/2 connections
// per target host, with prior knowledge (no upgrade, no TLS), requests
// spread round-robin over them as streams. net/http's own pool would open
// one connection per host and more only when its streams run out, so the
// scenario's connections would not be what the datapath sees. A
// connection that failed is dialled again by the next request its slot
// gets.
type h2cConns struct {
	tr    *http.Transport
	n     int
	mu    sync.Mutex
	slots map[string][]*h2cSlot
	next  atomic.Uint64
}

type h2cSlot struct {
	mu sync.Mutex
	cc *http.ClientConn
}

func newH2CConns(n int, d *dialer) *h2cConns {
	tr := &http.Transport{
		DialContext:        d.DialContext,
		DisableCompression: true,
		Protocols:          new(http.Protocols),
	}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return &h2cConns{tr: tr, n: n, slots: map[string][]*h2cSlot{}}
}

func (h *h2cConns) RoundTrip(req *http.Request) (*http.Response, error) {
	cc, err := h.conn(req.Context(), req.URL.Host)
	if err == nil {
		var resp *http.Response
		if resp, err = cc.RoundTrip(req); err == nil {
			return resp, nil
		}
	}
	// HTTP/2 reports a request cut off by its context as canceled; name
	// why, as HTTP/1.1 does (the attack's deadline, say), so that both
	// count the same error kind.
	if cause := context.Cause(req.Context()); cause != nil && errors.Is(err, context.Canceled) {
		err = fmt.Errorf("%w (%w)", cause, err)
	}
	return nil, err
}

// conn returns the next slot's connection to host, dialling it when the
// slot has none or a broken one.
func (h *h2cConns) conn(ctx context.Context, host string) (*http.ClientConn, error) {
	h.mu.Lock()
	slots, ok := h.slots[host]
	if !ok {
		slots = make([]*h2cSlot, h.n)
		for i := range slots {
			slots[i] = new(h2cSlot)
		}
		h.slots[host] = slots
	}
	h.mu.Unlock()
	s := slots[(h.next.Add(1)-1)%uint64(h.n)]
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cc != nil && s.cc.Err() == nil {
		return s.cc, nil
	}
	if s.cc != nil {
		s.cc.Close()
	}
	cc, err := h.tr.NewClientConn(ctx, "http", host)
	if err != nil {
		s.cc = nil
		return nil, err
	}
	s.cc = cc
	return cc, nil
}

// CloseIdleConnections closes every connection (http.Client's
// CloseIdleConnections calls it), which the load role does on exit.
func (h *h2cConns) CloseIdleConnections() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, slots := range h.slots {
		for _, s := range slots {
			s.mu.Lock()
			if s.cc != nil {
				s.cc.Close()
				s.cc = nil
			}
			s.mu.Unlock()
		}
	}
}
