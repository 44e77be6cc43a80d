package kafkatest_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/kafkatest"
)

// The image comes from ORDO_KAFKA_IMAGE; without it, the offline image.
func ExampleImage() {
	os.Unsetenv(kafkatest.ImageEnv)
	fmt.Println(kafkatest.Image())
	// Output: ordo/kafka:4
}

// A test under the integration build tag starts a broker, creates a topic
// and writes to it. Everything is removed when the test ends. (Shown as a
// function: examples cannot receive a *testing.T.)
func Example() {
	_ = func(t *testing.T) {
		ctx := context.Background()
		c := kafkatest.StartBroker(ctx, t)
		if _, err := c.Admin(t).CreateTopic(ctx, 3, 1, nil, "orders"); err != nil {
			t.Fatal(err)
		}
		rec := &kgo.Record{Topic: "orders", Key: []byte("order-1"), Value: []byte("paid")}
		if err := c.Client(t).ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
		url := kafkatest.RegistryURL(t) // ORDO_TEST_REGISTRY, or an in-process srfake
		_ = url
	}
}
