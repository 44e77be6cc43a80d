package kafkatest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"testing"
)

// TestServerCertificate: the broker certificate serves TLS for 127.0.0.1
// to a client trusting the CA (with the server name kgo sets: the dialed
// host), and fails the handshake for a client trusting another CA.
func TestServerCertificate(t *testing.T) {
	ca, err := NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewCA("other")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.serverPEM()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(certPEM), "BEGIN CERTIFICATE") != 1 || !strings.Contains(string(keyPEM), "BEGIN PRIVATE KEY") {
		t.Fatalf("want one certificate and an unencrypted PKCS#8 key; got:\n%s", certPEM)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	handshake := func(client *tls.Config) error {
		// A loopback socket, not net.Pipe: the two sides of a TLS 1.3
		// handshake write at once, which an unbuffered pipe deadlocks.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		done := make(chan struct{})
		go func() {
			defer close(done)
			sConn, err := l.Accept()
			if err != nil {
				return
			}
			defer sConn.Close()
			_ = tls.Server(sConn, &tls.Config{Certificates: []tls.Certificate{pair}}).Handshake()
		}()
		defer func() { <-done }()
		cConn, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer cConn.Close() // before the wait: unblocks a server left waiting
		client.ServerName = "127.0.0.1"
		return tls.Client(cConn, client).Handshake()
	}
	if err := handshake(ca.ClientTLS()); err != nil {
		t.Fatalf("trusted CA: %v", err)
	}
	var ua x509.UnknownAuthorityError
	if err := handshake(other.ClientTLS()); !errors.As(err, &ua) {
		t.Fatalf("untrusted CA: %v, want x509.UnknownAuthorityError", err)
	}
}

// TestSecureEnv: the secure listener is added next to the plaintext one,
// the PEM values are single properties lines with continuations (each
// ending in " \" so Kafka's parser finds whitespace after the armor), and
// the passwords appear only in the variable start.sh reads, never in a
// KAFKA_* variable (which start.sh prints).
func TestSecureEnv(t *testing.T) {
	ca, err := NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.serverPEM()
	if err != nil {
		t.Fatal(err)
	}
	sec := &security{Security: Security{Users: map[string]string{"bob": "pw-b", "alice": "pw-a"}, SuperUsers: []string{"admin"}},
		ca: ca, chain: cert, key: key, ports: []int{9999}}
	c := &Cluster{nodes: []*node{{id: 1, broker: "127.0.0.1:1111", controller: 2222}}, sec: sec}
	m := c.env(c.nodes[0], 1)
	for k, want := range map[string]string{
		"KAFKA_LISTENERS":                      "PLAINTEXT://127.0.0.1:1111,CONTROLLER://127.0.0.1:2222,SECURE://127.0.0.1:9999",
		"KAFKA_ADVERTISED_LISTENERS":           "PLAINTEXT://127.0.0.1:1111,SECURE://127.0.0.1:9999",
		"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SECURE:SASL_SSL",
		"KAFKA_SUPER_USERS":                    "User:ANONYMOUS;User:admin",
		ScramUsersEnv:                          "alice=pw-a bob=pw-b",
	} {
		if m[k] != want {
			t.Errorf("%s = %q, want %q", k, m[k], want)
		}
	}
	for _, k := range []string{"KAFKA_SSL_KEYSTORE_CERTIFICATE_CHAIN", "KAFKA_SSL_KEYSTORE_KEY"} {
		lines := strings.Split(m[k], "\n")
		for _, l := range lines[:len(lines)-1] {
			if !strings.HasSuffix(l, " \\") {
				t.Fatalf("%s: line %q does not end in a continuation", k, l)
			}
		}
	}
	for k, v := range m {
		if k != ScramUsersEnv && (strings.Contains(v, "pw-a") || strings.Contains(v, "pw-b")) {
			t.Errorf("%s carries a password", k)
		}
	}
}
