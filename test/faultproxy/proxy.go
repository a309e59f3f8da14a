// Package faultproxy is a TCP proxy for fault-injection tests: it sits
// between a client (the indexer, the shipper) and a server (Elasticsearch, a
// private Kafka broker) on loopback and breaks the link on demand, the way a
// real network does: refused connections (Cut), reset connections (Reset),
// added latency and bandwidth limits per direction. It forwards bytes; it
// never parses the protocol, so what the client sees is exactly what a
// flaky network or a dead server would show it.
//
// Kafka clients learn broker addresses from metadata, so a proxy in front of
// Kafka only sees the traffic when the broker advertises the proxy's
// address (itest.KafkaServerOptions.AdvertisedAddr).
package faultproxy

import (
	"fmt"
	"net"
	"sync"
	"time"
)

// Proxy forwards connections from its listen address to Target.
type Proxy struct {
	addr string

	mu        sync.Mutex
	target    string
	ln        net.Listener
	conns     map[net.Conn]struct{}
	latency   time.Duration // added before each forwarded chunk
	bandwidth int           // bytes per second per direction and connection; 0: unlimited
	stall     bool          // accept but forward nothing (a black hole: clients time out)
	closed    bool
	accepted  int
	cuts      int
}

// New listens on addr ("127.0.0.1:0" picks a port) and forwards to target
// (may be "" and set later with SetTarget: connections are refused until then).
func New(addr, target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("faultproxy listen %s: %w", addr, err)
	}
	p := &Proxy{addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	go p.serve(ln)
	return p, nil
}

// Addr is the proxy's listen address (stable across Cut and Restore).
func (p *Proxy) Addr() string { return p.addr }

// URL is "http://" + Addr, for HTTP servers such as Elasticsearch.
func (p *Proxy) URL() string { return "http://" + p.addr }

// SetTarget changes where new connections go.
func (p *Proxy) SetTarget(target string) {
	p.mu.Lock()
	p.target = target
	p.mu.Unlock()
}

// Stats reports how many connections were accepted and how often the link was cut.
func (p *Proxy) Stats() (accepted, cuts int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted, p.cuts
}

func (p *Proxy) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return // listener closed (Cut or Close)
		}
		p.mu.Lock()
		target := p.target
		p.accepted++
		p.mu.Unlock()
		if target == "" {
			reset(c)
			continue
		}
		go p.handle(c, target)
	}
}

func (p *Proxy) handle(c net.Conn, target string) {
	s, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		reset(c)
		return
	}
	if !p.track(c, s) {
		reset(c)
		s.Close()
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(s, c) }()
	go func() { defer wg.Done(); p.pipe(c, s) }()
	wg.Wait()
	p.untrack(c, s)
}

func (p *Proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil || p.closed {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *Proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
		c.Close()
	}
}

// pipe copies src to dst chunk by chunk, applying the current faults to
// each chunk; the first error closes both ends (the peer sees it).
func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			lat, bw, stall := p.latency, p.bandwidth, p.stall
			p.mu.Unlock()
			for stall {
				time.Sleep(50 * time.Millisecond)
				p.mu.Lock()
				stall = p.stall && !p.closed
				p.mu.Unlock()
			}
			if lat > 0 {
				time.Sleep(lat)
			}
			if bw > 0 {
				time.Sleep(time.Duration(float64(n) / float64(bw) * float64(time.Second)))
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	// Half-close would let a dead server look alive; close both.
	src.Close()
	dst.Close()
}

// reset closes c with an RST instead of a FIN (SO_LINGER 0): the client
// sees "connection reset by peer", as from a crashed host.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}

// Cut takes the link down: the listener closes (new connections are
// refused) and every open connection is reset. This is how a stopped server
// looks to its clients.
func (p *Proxy) Cut() {
	p.mu.Lock()
	ln := p.ln
	p.ln = nil
	if ln != nil {
		p.cuts++
	}
	conns := p.conns
	p.conns = map[net.Conn]struct{}{}
	p.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	for c := range conns {
		reset(c)
	}
}

// Restore brings a cut link back on the same address.
func (p *Proxy) Restore() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil || p.closed {
		return nil
	}
	var ln net.Listener
	var err error
	// The port can be in TIME_WAIT-adjacent states for a moment; retry briefly.
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("faultproxy restore %s: %w", p.addr, err)
	}
	p.ln = ln
	go p.serve(ln)
	return nil
}

// Reset resets every open connection once; the listener stays up, so
// clients reconnect at once (a middlebox or a load balancer dropping state).
func (p *Proxy) Reset() {
	p.mu.Lock()
	conns := p.conns
	p.conns = map[net.Conn]struct{}{}
	p.mu.Unlock()
	for c := range conns {
		reset(c)
	}
}

// SetLatency delays every forwarded chunk by d (0: none).
func (p *Proxy) SetLatency(d time.Duration) {
	p.mu.Lock()
	p.latency = d
	p.mu.Unlock()
}

// SetBandwidth limits each direction of each connection to bytesPerSec (0: unlimited).
func (p *Proxy) SetBandwidth(bytesPerSec int) {
	p.mu.Lock()
	p.bandwidth = bytesPerSec
	p.mu.Unlock()
}

// SetStall makes the link a black hole while on: connections stay open but
// no byte moves, so clients hit their timeouts rather than errors.
func (p *Proxy) SetStall(on bool) {
	p.mu.Lock()
	p.stall = on
	p.mu.Unlock()
}

// Close stops the proxy for good and closes every connection.
func (p *Proxy) Close() error {
	p.Cut()
	p.mu.Lock()
	p.closed = true
	p.stall = false
	p.mu.Unlock()
	return nil
}
