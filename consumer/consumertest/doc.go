// Package consumertest runs ordo's embedded environment for a service's own
// tests: an in-process Kafka cluster (franz-go's kfake) and schema registry
// (srfake) on loopback, with the helpers such a test needs: a producer and
// consumer options wired to them, a consumer run for the test's lifetime,
// and a [Recorder] that waits until a handler has seen the events.
//
//	func TestBilling(t *testing.T) {
//		env := consumertest.Start(t, consumertest.Topic("orders", 6))
//		rec := consumertest.NewRecorder[OrderPaid]()
//		c, err := consumer.New(append(env.ConsumerOptions("billing", "orders"),
//			consumer.On(paidCodec, rec.Wrap(bill)))...)
//		...
//		env.Run(t, c)
//		pub, _ := producer.NewPublisher(ctx, env.Producer(t), "orders", paidCodec)
//		pub.Publish(ctx, OrderPaid{OrderID: "o-1", Cents: 250})
//		got := rec.Wait(t, 1, 10*time.Second)
//	}
//
// The kit serves a producer's tests as well ([Env.Producer], [New] for an
// example or a demo outside a test): publishing needs only the broker and
// registry it starts. It lives under consumer because ordo's top level is
// its five packages, and the part of it a test leans on most (a consumer
// run for the test's lifetime, the [Recorder]) is the consumer's; a
// second kit under producer would be the same broker and registry twice.
//
// Everything a test starts is stopped by t.Cleanup. The environment is the
// same one `go run ./examples/...` uses; its registry answers "compatible"
// to every compatibility check, so compatibility is tested with
// [github.com/ordo-go/ordo/schema/schematest] or against a real registry.
package consumertest
