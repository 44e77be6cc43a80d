package kafkatest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// SecureListener names the TLS + SASL/SCRAM-SHA-512 listener of a cluster
// started by [StartSecureBroker].
const SecureListener = "SECURE"

// ScramUsersEnv names the variable the image's start.sh reads to create
// SCRAM-SHA-512 users when it formats the storage: whitespace-separated
// name=password pairs.
const ScramUsersEnv = "ORDO_SCRAM_USERS"

// Security configures [StartSecureBroker].
type Security struct {
	// Users are the SCRAM-SHA-512 users, name to password. Names and
	// passwords must not contain whitespace, '=', ',', '[' or ']' (the
	// storage tool's syntax); [NewPassword] makes safe ones.
	Users map[string]string
	// SuperUsers are users the authorizer lets do anything. The plaintext
	// listener's principal (User:ANONYMOUS, used by [Cluster.Admin] and
	// between the node's own parts) always is one.
	SuperUsers []string
}

// security is a cluster's secure listener: its ports (one per node), the CA
// that signed the broker certificate, and the users.
type security struct {
	Security
	ca    *CA
	chain []byte
	key   []byte
	ports []int
}

// NewPassword returns a random password safe for [Security.Users].
func NewPassword() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// StartSecureBroker starts a single-node cluster like [StartBroker] with a
// second listener, [SecureListener], that speaks TLS (a certificate for
// 127.0.0.1 signed by [Cluster.CA]) and SASL/SCRAM-SHA-512 for sec.Users.
// The StandardAuthorizer is on: a user may do only what an ACL or
// sec.SuperUsers allows. [Cluster.Brokers] and [Cluster.Admin] stay on the
// plaintext listener, as a super user, for the test's own setup and checks;
// [Cluster.SecureBrokers] are the addresses of the secure listener.
func StartSecureBroker(ctx context.Context, t testing.TB, sec Security) *Cluster {
	t.Helper()
	for name, pw := range sec.Users {
		if !scramSafe(name) || !scramSafe(pw) {
			t.Fatalf("kafkatest: StartSecureBroker: user %q: name or password has a character the storage tool cannot take", name)
		}
	}
	ca, err := NewCA("ordo-kafkatest-ca")
	if err != nil {
		t.Fatal(err)
	}
	chain, key, err := ca.serverPEM()
	if err != nil {
		t.Fatal(err)
	}
	ports, err := freePorts(1)
	if err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	c := startCluster(ctx, t, 1, &security{Security: sec, ca: ca, chain: chain, key: key, ports: ports})
	if len(sec.Users) > 0 {
		c.requireScramSupport(ctx)
	}
	return c
}

// scramMark is what start.sh logs when it creates SCRAM users.
const scramMark = "start: SCRAM-SHA-512 users:"

// requireScramSupport fails the test if the image's start.sh did not create
// the users (an image built before ORDO_SCRAM_USERS existed): every login
// would fail with SASL_AUTHENTICATION_FAILED, which reads like a bug in
// the code under test.
func (c *Cluster) requireScramSupport(ctx context.Context) {
	c.t.Helper()
	rc, err := c.nodes[0].ctr.Logs(ctx)
	if err != nil {
		c.t.Fatalf("kafkatest: read the broker's log: %v", err)
	}
	defer rc.Close()
	out, err := io.ReadAll(rc)
	if err != nil {
		c.t.Fatalf("kafkatest: read the broker's log: %v", err)
	}
	if !bytes.Contains(out, []byte(scramMark)) {
		c.t.Fatalf("kafkatest: image %s did not create the SCRAM users (its start.sh predates %s): rebuild it with bash .ci/kafka-image/build.sh", c.image, ScramUsersEnv)
	}
}

func scramSafe(s string) bool { return s != "" && !strings.ContainsAny(s, " \t\n=,[]") }

// CA returns the authority that signed the secure listener's certificate,
// or nil for a cluster without one.
func (c *Cluster) CA() *CA {
	if c.sec == nil {
		return nil
	}
	return c.sec.ca
}

// SecureBrokers returns the addresses of the secure listener in node order,
// or nil for a cluster without one.
func (c *Cluster) SecureBrokers() []string {
	if c.sec == nil {
		return nil
	}
	return c.sec.addrs()
}

// env adds the secure listener to a node's broker configuration. The key
// and chain go inline (ssl.keystore.key, ssl.keystore.certificate.chain):
// a PEM key store file would need an encrypted PKCS#8 key, which Go's
// standard library does not write. start.sh copies values verbatim, so the
// PEM lines are joined with properties-file continuations; each ends in a
// space, because Kafka's PEM parser wants whitespace after the
// -----BEGIN ...----- and -----END ...----- lines, which the continuation
// removes.
func (s *security) env(m map[string]string, n *node) {
	addr := "127.0.0.1:" + strconv.Itoa(s.ports[n.id-1])
	m["KAFKA_LISTENERS"] += "," + SecureListener + "://" + addr
	m["KAFKA_ADVERTISED_LISTENERS"] += "," + SecureListener + "://" + addr
	m["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"] += "," + SecureListener + ":SASL_SSL"
	m["KAFKA_SASL_ENABLED_MECHANISMS"] = "SCRAM-SHA-512"
	m["KAFKA_LISTENER_NAME_"+SecureListener+"_SCRAM___SHA___512_SASL_JAAS_CONFIG"] = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
	m["KAFKA_SSL_KEYSTORE_TYPE"] = "PEM"
	m["KAFKA_SSL_KEYSTORE_CERTIFICATE_CHAIN"] = propertyPEM(s.chain)
	m["KAFKA_SSL_KEYSTORE_KEY"] = propertyPEM(s.key)
	m["KAFKA_AUTHORIZER_CLASS_NAME"] = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
	supers := []string{"User:ANONYMOUS"}
	for _, u := range s.SuperUsers {
		supers = append(supers, "User:"+u)
	}
	m["KAFKA_SUPER_USERS"] = strings.Join(supers, ";")
	var users []string
	for _, name := range slices.Sorted(maps.Keys(s.Users)) {
		users = append(users, name+"="+s.Users[name])
	}
	m[ScramUsersEnv] = strings.Join(users, " ")
}

func propertyPEM(b []byte) string {
	return strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", " \\\n")
}

// describe is for the start log line.
func (s *security) describe() string {
	return fmt.Sprintf("secure listener %s (SASL_SSL, SCRAM-SHA-512, %d users)", strings.Join(s.addrs(), ","), len(s.Users))
}

func (s *security) addrs() []string {
	out := make([]string, len(s.ports))
	for i, p := range s.ports {
		out[i] = "127.0.0.1:" + strconv.Itoa(p)
	}
	return out
}
