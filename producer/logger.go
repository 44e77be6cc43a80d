package producer

import (
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// authWarnEvery bounds how often authWatch warns.
const authWarnEvery = 30 * time.Second

// authWatch warns when a broker drops the connection in the middle of SASL
// authentication. A broker that answers with an error code gets franz-go's
// own error line; one that just closes the connection (as some brokers do
// for a wrong password) reads to franz-go as a retryable network error,
// logged at debug only, and without this a wrong password meant a minute
// of silence.
type authWatch struct {
	log  *slog.Logger
	last atomic.Int64 // when it last warned, Unix nanoseconds
}

var _ kgo.HookBrokerRead = (*authWatch)(nil)

func (w *authWatch) OnBrokerRead(meta kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err == nil || key != int16(kmsg.SASLAuthenticate) {
		return
	}
	now, last := time.Now().UnixNano(), w.last.Load()
	if now-last < int64(authWarnEvery) || !w.last.CompareAndSwap(last, now) {
		return
	}
	w.log.Warn("ordo producer: broker closed the connection during SASL authentication: are the credentials right?",
		"broker", net.JoinHostPort(meta.Host, strconv.Itoa(int(meta.Port))), "err", err)
}
