package producer

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/schema"
)

// TestMetadataMaxAgeAdvice protects DefaultMetadataMaxAge's advice as
// written: an age under 5 s through KgoOpts needs kgo.MetadataMinAge too;
// alone, New refuses it (franz-go: max age below min age). The advice
// named kgo.MetadataMaxAge alone (issue 19).
func TestMetadataMaxAgeAdvice(t *testing.T) {
	reg, err := schema.NewRegistry([]string{"http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := New(Brokers("127.0.0.1:1"), Registry(reg), KgoOpts(kgo.MetadataMaxAge(time.Second))); !errors.Is(err, ErrInvalidConfig) {
		if p != nil {
			p.Close()
		}
		t.Fatalf("New with kgo.MetadataMaxAge(1s) alone: %v, want ErrInvalidConfig", err)
	}
	p, err := New(Brokers("127.0.0.1:1"), Registry(reg),
		KgoOpts(kgo.MetadataMaxAge(time.Second), kgo.MetadataMinAge(time.Second)))
	if err != nil {
		t.Fatalf("New as DefaultMetadataMaxAge advises: %v", err)
	}
	p.Close()
}
