package client

import (
	"crypto/tls"
	"testing"
)

func TestConn(t *testing.T) {
	var c Conn
	if c.Validate() == nil {
		t.Fatal("no brokers accepted")
	}
	c.AddBrokers("127.0.0.1")
	if c.Validate() == nil {
		t.Fatal("a broker without a port accepted")
	}
	c = Conn{}
	c.AddBrokers("127.0.0.1:9092", "localhost:9093")
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.SetTLS(nil) == nil || c.AddSASL(nil) == nil {
		t.Fatal("nil TLS or SASL accepted")
	}
	if n := len(c.Opts()); n != 1 {
		t.Fatalf("%d options for plaintext, want 1", n)
	}
	if err := c.SetTLS(&tls.Config{ServerName: "k"}); err != nil {
		t.Fatal(err)
	}
	if n := len(c.Opts()); n != 2 {
		t.Fatalf("%d options with TLS, want 2", n)
	}
}

// TestBrokerAddr protects host:port validation: a port out of range or a
// missing host is refused at New, not found later as a dial error.
func TestBrokerAddr(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:9092":  true,
		"[::1]:9092":      true,
		"kafka-0:1":       true,
		"127.0.0.1:99999": false,
		"127.0.0.1:0":     false,
		"127.0.0.1:-1":    false,
		"127.0.0.1:http":  false,
		":9092":           false,
		"127.0.0.1":       false,
	} {
		var c Conn
		c.AddBrokers(addr)
		if err := c.Validate(); (err == nil) != ok {
			t.Errorf("Validate(%q) = %v, want ok=%v", addr, err, ok)
		}
	}
}
