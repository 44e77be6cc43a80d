// Package outagetest holds the consumer's long outage scenario (issue 21):
// a dependency down for five minutes under the consumer's defaults. It
// has no code of its own, only its test.
//
// Why a package of its own rather than a test in consumer: a test binary
// runs a top-level t.Parallel test only after every sequential test of
// its package, so in consumer the scenario's five and a half minutes
// would come on top of that package's four, past go test's 10-minute
// default; and consumer's tests that measure the live heap (the
// quarantine's bytes per key, the buffer's peak) would count the
// scenario's records. Here it is a binary of its own, which go test runs
// beside the other packages' binaries.
package outagetest
