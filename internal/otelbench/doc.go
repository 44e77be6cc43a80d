// Package otelbench holds what measures or checks ordo against the
// OpenTelemetry SDK, in a module of its own: Go puts every requirement of
// ordo's go.mod into the module graph of the services that import ordo,
// and those should not carry the SDK because ordo's benchmarks use it.
//
//   - BenchmarkPublishTracing and BenchmarkTracing measure what tracing
//     costs a publish, and a publish and its consumption, with SDK tracers
//     that never and always sample, against tracing off: DESIGN.md's budget
//     is never-sampling at least 0.85 of off.
//   - The parity tests run the same calls on the SDK and on ordo's
//     internal/oteltest, on which ordo's own tests rely, and compare what
//     each records.
//   - Example_sdkTracing is producer.ExampleWithTracerProvider with an SDK.
//
// It uses ordo's public API and internal/embedded only (the internal/
// prefix lets this module import it), through a replace of ordo by the
// working tree.
package otelbench
