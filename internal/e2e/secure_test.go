//go:build integration

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
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
		producer.WithLogger(s.log), producer.KgoLogLevel(slog.LevelDebug), producer.WithTracerProvider(s.tp),
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
	ctx := kafkatest.Bound(t, 4*time.Minute)
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

// loggedSoon fails the test unless a log line written after the first
// from bytes names the refusal (contains word) within 5 s of start: a
// refused login is bounded by DeliveryTimeout or UnreachableAfter, but it
// must not be silent until then.
func (s *secureEnv) loggedSoon(t *testing.T, what string, start time.Time, from int, word string) {
	t.Helper()
	waitFor(t, 5*time.Second, what+": a log line naming the refusal", func() bool {
		return strings.Contains(s.logs.String()[from:], word)
	})
	t.Logf("%s: the refusal was logged after %v", what, time.Since(start).Round(time.Millisecond))
}

// failFast is how long a refused login or handshake may take to fail a
// call: the bounds the test sets (DeliveryTimeout 10 s, UnreachableAfter
// 10 s) plus slack. Publish and Run wait out their bound (the defaults are
// two minutes) because a refusal may be fixed on the server meanwhile;
// they log the refusal at once ([secureEnv.loggedSoon]).
const failFast = 30 * time.Second

// TestSecureRefused (real Kafka): a wrong SCRAM password and a broker
// certificate from a CA the client does not trust make Publish and Run fail
// within seconds with typed errors (no hang), and neither password appears
// in the run's logs, errors or spans.
func TestSecureRefused(t *testing.T) {
	ctx := kafkatest.Bound(t, 4*time.Minute)
	s := newSecureEnv(ctx, t, "alice")
	s.grant(ctx, kadm.NewACLs().Allow("User:alice").Topics(s.topic).Groups("refused").Operations(kadm.OpAll))
	other, err := kafkatest.NewCA("untrusted")
	if err != nil {
		t.Fatal(err)
	}
	wrong := kafkatest.NewPassword()
	cases := []struct {
		name  string
		pass  string
		tls   *tls.Config
		cause func(error) bool // the typed cause every error must carry
		log   string           // what a log line about the refusal says
	}{
		{"wrong password", wrong, s.cluster.CA().ClientTLS(), func(err error) bool { return errors.Is(err, kerr.SaslAuthenticationFailed) }, "SASL_AUTHENTICATION_FAILED"},
		{"untrusted certificate", s.users["alice"], other.ClientTLS(), func(err error) bool {
			var ua x509.UnknownAuthorityError
			return errors.As(err, &ua)
		}, "certificate signed by unknown authority"},
	}
	var errs []error
	// check records err and fails the test unless it came within failFast
	// and carries the typed cause (and target, if given).
	check := func(t *testing.T, what string, start time.Time, err error, cause func(error) bool, typed func(error) bool) {
		t.Helper()
		took := time.Since(start)
		errs = append(errs, err)
		t.Logf("%s: failed after %v: %v", what, took.Round(time.Millisecond), err)
		if err == nil || !cause(err) || (typed != nil && !typed(err)) {
			t.Errorf("%s: %v (%T), want a typed error with the refusal as its cause", what, err, err)
		}
		if took > failFast {
			t.Errorf("%s took %v to fail, want under %v", what, took, failFast)
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := s.secureProducer("alice", tc.pass, tc.tls, producer.DeliveryTimeout(10*time.Second))
			start := time.Now()
			_, err := producer.NewPublisher(ctx, p, s.topic, s.codec("Step"))
			check(t, "NewPublisher", start, err, tc.cause, nil)

			// An unordered publisher looks the topic up at creation too.
			start = time.Now()
			_, err = producer.NewUnorderedPublisher(ctx, p, s.topic, s.codec("Step"))
			check(t, "NewUnorderedPublisher", start, err, tc.cause, nil)

			// With AllowMissingTopic it does not read the topic at
			// creation: the refusal meets Publish itself.
			upub, err := producer.NewUnorderedPublisher(ctx, p, s.topic, s.codec("Step"), producer.AllowMissingTopic())
			if err != nil {
				t.Fatal(err)
			}
			start = time.Now()
			var done = make(chan error, 1)
			from := len(s.logs.String())
			go func() { _, err := upub.Publish(ctx, Step{Key: "k", Seq: 1}); done <- err }()
			s.loggedSoon(t, "Publish", start, from, tc.log)
			err = <-done
			check(t, "Publish", start, err, tc.cause, func(err error) bool {
				var pe *producer.PublishError
				return errors.As(err, &pe) && errors.Is(err, producer.ErrDeliveryTimeout)
			})

			c := s.secureConsumer("alice", tc.pass, tc.tls, "refused",
				consumer.On(s.codec("Step"), func(context.Context, Step, consumer.Meta) error { return nil }),
				// The default UnreachableAfter (2 min): a refusal must not
				// wait for it (ErrRefused after three refused probes).
			)
			rctx, rcancel := context.WithTimeout(ctx, time.Minute)
			defer rcancel()
			start = time.Now()
			from = len(s.logs.String())
			go func() { done <- c.Run(rctx) }()
			s.loggedSoon(t, "Run", start, from, tc.log)
			err = <-done
			check(t, "Run", start, err, tc.cause, func(err error) bool {
				return errors.Is(err, consumer.ErrUnreachable) && errors.Is(err, consumer.ErrRefused)
			})
		})
	}
	s.noSecrets(errs, wrong)
}

// TestSecureDeadLetterDenied (real Kafka, ACLs): a consumer not allowed to
// create its group's quarantine store fails Run naming it; allowed that,
// and to read its topic and group but not to write its dead-letter topic,
// it halts on a
// poison record with a *consumer.DeadLetterError naming the authorization
// failure, commits nothing past the poison, and, once allowed to write,
// a restarted consumer dead-letters the poison and handles the rest:
// nothing is lost.
func TestSecureDeadLetterDenied(t *testing.T) {
	ctx := kafkatest.Bound(t, 4*time.Minute)
	s := newSecureEnv(ctx, t, "reader")
	const group = "secure-dl"
	dlt := s.topic + ".dlt"
	admin := s.cluster.Admin(t)
	if _, err := admin.CreateTopic(ctx, 1, 1, nil, dlt); err != nil {
		t.Fatal(err)
	}
	s.grant(ctx, kadm.NewACLs().Allow("User:reader").Topics(s.topic).Groups(group).Operations(kadm.OpRead, kadm.OpDescribe))

	// The setup writes as the super user, on the plaintext listener.
	codec := s.codec("Step")
	pub, err := producer.NewPublisher(ctx, s.producer(), s.topic, codec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Publish(ctx, Step{Key: "a", Seq: 1}); err != nil {
		t.Fatal(err)
	}
	res := s.cluster.Client(t).ProduceSync(ctx, &kgo.Record{Topic: s.topic, Key: []byte("c"), Value: []byte("not avro")})
	poison, err := res.First()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Publish(ctx, Step{Key: "b", Seq: 1}); err != nil {
		t.Fatal(err)
	}

	b := newBook()
	reader := func() *consumer.Consumer {
		return s.secureConsumer("reader", s.users["reader"], s.cluster.CA().ClientTLS(), group,
			consumer.On(codec, b.handle(0)), consumer.DeadLetterTopic(dlt), consumer.DeadLetterPatience(3*time.Second),
			consumer.UnreachableAfter(30*time.Second)) // a refused login fails Run, not the deadline
	}
	rctx, rcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer rcancel()

	// Without the rights on the group's quarantine store, Run fails at
	// once, naming the topic and the right it lacks.
	store := group + ".ordo-quarantine"
	if err := reader().Run(rctx); !errors.Is(err, consumer.ErrQuarantineStore) ||
		!strings.Contains(err.Error(), store) || !strings.Contains(err.Error(), "CREATE") {
		t.Fatalf("Run without the store's rights: %v, want ErrQuarantineStore naming %s and CREATE", err, store)
	}
	s.grant(ctx, kadm.NewACLs().Allow("User:reader").Topics(store).Operations(kadm.OpAll))

	start := time.Now()
	runErr := reader().Run(rctx)
	t.Logf("Run: halted after %v: %v", time.Since(start).Round(time.Millisecond), runErr)
	var dle *consumer.DeadLetterError
	if !errors.As(runErr, &dle) || !errors.Is(runErr, consumer.ErrDeadLetterUnavailable) || !errors.Is(runErr, kerr.TopicAuthorizationFailed) {
		t.Fatalf("Run: %v (%T), want a *consumer.DeadLetterError matching ErrDeadLetterUnavailable and TOPIC_AUTHORIZATION_FAILED", runErr, runErr)
	}
	if dle.Topic != dlt || dle.Record == nil || dle.Record.Offset != poison.Offset {
		t.Errorf("DeadLetterError: topic %q, record %+v; want %q and the poison at offset %d", dle.Topic, dle.Record, dlt, poison.Offset)
	}
	offs, err := admin.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup(s.topic, 0); ok && o.At > poison.Offset {
		t.Fatalf("committed offset %d is past the poison at %d: the poison is lost", o.At, poison.Offset)
	} else {
		t.Logf("committed: %+v (poison at %d)", o.Offset, poison.Offset)
	}

	// Allowed to write the dead-letter topic, a new run picks up where the
	// commit left off: the poison is dead-lettered, a and b are handled.
	s.grant(ctx, kadm.NewACLs().Allow("User:reader").Topics(dlt).Operations(kadm.OpWrite, kadm.OpDescribe))
	c := reader()
	stop := run(t, c)
	waitFor(t, time.Minute, "the poison dead-lettered", func() bool { return c.Stats().DeadLettered == 1 })
	waitFor(t, time.Minute, "a1 and b1 handled", func() bool { d, _ := b.count(); return d == 2 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	cl := s.cluster.Client(t, kgo.ConsumeTopics(dlt), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fs := cl.PollFetches(ctx)
	if fs.NumRecords() != 1 || string(fs.Records()[0].Key) != "c" {
		t.Fatalf("dead-letter topic: %d records, errors %v; want the poison", fs.NumRecords(), fs.Errors())
	}
	s.noSecrets([]error{runErr})
}
