//go:build integration

package pgtest

import (
	"net"
	"net/url"
	"testing"
)

// TestStartStop protects the test servers' life: Start serves on
// 127.0.0.1, Stop stops it and the port closes.
func TestStartStop(t *testing.T) {
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatalf("dial %s: %v", u.Host, err)
	}
	c.Close()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if s.dir != "" {
		if c, err := net.Dial("tcp", u.Host); err == nil {
			c.Close()
			t.Fatalf("%s still accepts connections after Stop", u.Host)
		}
	}
}
