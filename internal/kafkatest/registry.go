package kafkatest

import (
	"os"
	"testing"

	"github.com/twmb/franz-go/pkg/sr/srfake"
)

// RegistryEnv names the environment variable that points the tests at a
// running Confluent-API schema registry ("http://127.0.0.1:8081").
const RegistryEnv = "ORDO_TEST_REGISTRY"

// RegistryURL returns the base URL of the schema registry a test should
// use: $ORDO_TEST_REGISTRY when set (.ci/integration.sh sets it to the
// registry it started), else a fresh in-process srfake registry that is
// closed when the test ends. The test log says which. A shared registry
// outlives the test and keeps what it registers: use subject names unique
// to the test.
func RegistryURL(t testing.TB) string {
	t.Helper()
	if url := os.Getenv(RegistryEnv); url != "" {
		t.Logf("kafkatest: schema registry %s (from %s)", url, RegistryEnv)
		return url
	}
	reg := srfake.New()
	t.Cleanup(reg.Close)
	t.Logf("kafkatest: %s unset; using an in-process srfake registry at %s", RegistryEnv, reg.URL())
	return reg.URL()
}
