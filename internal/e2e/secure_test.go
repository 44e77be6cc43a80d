//go:build integration

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ordo-go/ordo/consumer"
	"github.com/ordo-go/ordo/internal/kafkatest"
	"github.com/ordo-go/ordo/producer"
)

// secureEnv is a test's broker with a TLS + SCRAM-SHA-512 listener and the
// authorizer on, its users, and what the test's ordo clients logged and
// traced, to be searched for secrets.
type secureEnv struct {
	*env
	users map[string]string
	logs  *lockedBuffer
	log   *slog.Logger
	spans *tracetest.SpanRecorder
	tp    *sdktrace.TracerProvider
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newSecureEnv(ctx context.Context, t *testing.T, users ...string) *secureEnv {
	t.Helper()
	sec := kafkatest.Security{Users: map[string]string{}}
	for _, u := range users {
		sec.Users[u] = kafkatest.NewPassword()
	}
	c := kafkatest.StartSecureBroker(ctx, t, sec)
	logs := &lockedBuffer{}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	return &secureEnv{
		env: newEnv(ctx, t, c, 1, 1), users: sec.Users, logs: logs,
		log:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		spans: rec, tp: tp,
	}
}

// grant creates ACLs as the cluster's super user.
func (s *secureEnv) grant(ctx context.Context, b *kadm.ACLBuilder) {
	s.t.Helper()
	res, err := s.cluster.Admin(s.t).CreateACLs(ctx, b)
	if err != nil {
		s.t.Fatalf("create ACLs: %v", err)
	}
	for _, r := range res {
		if r.Err != nil {
			s.t.Fatalf("create ACL %s %v on %s: %v %s", r.Principal, r.Operation, r.Name, r.Err, r.ErrMessage)
		}
	}
}

func (s *secureEnv) auth(user, pass string) scram.Auth { return scram.Auth{User: user, Pass: pass} }

// secureProducer is a producer on the secure listener as user with pass,
// trusting tlsCfg, logging everything at debug to s.logs and tracing to
// s.spans.
func (s *secureEnv) secureProducer(user, pass string, tlsCfg *tls.Config, opts ...producer.Option) *producer.Producer {
	s.t.Helper()
	base := []producer.Option{
		producer.Brokers(s.cluster.SecureBrokers()...), producer.Registry(s.reg),
		producer.TLS(tlsCfg), producer.SASL(s.auth(user, pass).AsSha512Mechanism()),
		producer.WithLogger(s.log), producer.ClientLogLevel(slog.LevelDebug), producer.WithTracerProvider(s.tp),
	}
	p, err := producer.New(append(base, opts...)...)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(p.Close)
	return p
}

func (s *secureEnv) secureConsumer(user, pass string, tlsCfg *tls.Config, group string, opts ...consumer.Option) *consumer.Consumer {
	s.t.Helper()
	base := []consumer.Option{
		consumer.Brokers(s.cluster.SecureBrokers()...), consumer.Group(group), consumer.Topics(s.topic),
		consumer.Registry(s.reg), consumer.CommitInterval(200 * time.Millisecond),
		consumer.TLS(tlsCfg), consumer.SASL(s.auth(user, pass).AsSha512Mechanism()),
		consumer.WithLogger(s.log), consumer.KgoLogLevel(slog.LevelDebug), consumer.WithTracerProvider(s.tp),
	}
	c, err := consumer.New(append(base, opts...)...)
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// noSecrets fails the test if a password of any user, or one of extra
// (wrong passwords the test used), appears in a log line, in one of errs'
// texts or in a span (name, status, attributes, events).
func (s *secureEnv) noSecrets(errs []error, extra ...string) {
	s.t.Helper()
	secrets := extra
	for _, pw := range s.users {
		secrets = append(secrets, pw)
	}
	var text strings.Builder
	text.WriteString(s.logs.String())
	for _, err := range errs {
		if err != nil {
			fmt.Fprintln(&text, err.Error())
		}
	}
	for _, sp := range s.spans.Ended() {
		fmt.Fprintln(&text, sp.Name(), sp.Status(), sp.Attributes(), sp.Events())
	}
	all := text.String()
	for _, secret := range secrets {
		if strings.Contains(all, secret) {
			i := strings.Index(all, secret)
			s.t.Errorf("a secret appears in the run's output: ...%s...", all[max(0, i-200):i])
		}
	}
	if s.logs.String() == "" {
		s.t.Error("no log line captured: the scan would prove nothing")
	}
}

// TestSecureRoundTrip (real Kafka, TLS + SASL/SCRAM-SHA-512, ACLs): ordo
// publishes and consumes through the secure listener as a user with ACLs
// on its topic and group only, and no password appears in the run's logs
// (kgo's debug lines included), errors or spans.
func TestSecureRoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s := newSecureEnv(ctx, t, "alice")
	const group = "secure-rt"
	s.grant(ctx, kadm.NewACLs().Allow("User:alice").Topics(s.topic).Groups(group).Operations(kadm.OpAll))

	codec := s.codec("Step")
	pub, err := producer.NewPublisher(ctx, s.secureProducer("alice", s.users["alice"], s.cluster.CA().ClientTLS()), s.topic, codec)
	if err != nil {
		t.Fatal(err)
	}
	const keys, perKey = 4, 5
	publishSteps(ctx, t, pub, keys, perKey, 0)

	b := newBook()
	c := s.secureConsumer("alice", s.users["alice"], s.cluster.CA().ClientTLS(), group, consumer.On(codec, b.handle(0)))
	stop := run(t, c)
	waitFor(t, time.Minute, "every step handled", func() bool { d, _ := b.count(); return d == keys*perKey })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	b.check(t, keys, perKey)
	if len(s.spans.Ended()) == 0 {
		t.Error("no span recorded")
	}
	s.noSecrets(nil)
}
