package faultproxy

import (
	"bufio"
	"net"
	"testing"
	"time"
)

// echo serves lines back until the connection closes.
func echo(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					c.Write(append(sc.Bytes(), '\n'))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(addr string) (time.Duration, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	start := time.Now()
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return 0, err
	}
	_, err = bufio.NewReader(c).ReadString('\n')
	return time.Since(start), err
}

func TestCutRestoreLatencyStall(t *testing.T) {
	p, err := New("127.0.0.1:0", echo(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := roundTrip(p.Addr()); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	// An open connection is reset by Cut, and new ones are refused.
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("a\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	p.Cut()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 64)
	for {
		if _, err := c.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("open connection survived Cut")
			}
			break
		}
	}
	if _, err := roundTrip(p.Addr()); err == nil {
		t.Fatal("connection accepted while cut")
	}
	if err := p.Restore(); err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(p.Addr()); err != nil {
		t.Fatalf("after Restore: %v", err)
	}
	p.SetLatency(100 * time.Millisecond)
	if d, err := roundTrip(p.Addr()); err != nil || d < 200*time.Millisecond {
		t.Fatalf("with 100ms per chunk each way: %s, %v", d, err)
	}
	p.SetLatency(0)
	p.SetStall(true)
	if _, err := roundTrip(p.Addr()); err == nil {
		t.Fatal("a stalled link answered")
	}
	p.SetStall(false)
	if _, err := roundTrip(p.Addr()); err != nil {
		t.Fatalf("after the stall: %v", err)
	}
	if acc, cuts := p.Stats(); acc < 6 || cuts != 1 {
		t.Fatalf("stats accepted=%d cuts=%d", acc, cuts)
	}
}
