package otelbench

import (
	"context"
	"fmt"
	"log"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ordo-go/ordo/internal/embedded"
	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/schema"
)

// Example_sdkTracing is producer.ExampleWithTracerProvider with an
// OpenTelemetry SDK: each publish is a span, a child of the caller's, with
// the messaging attributes. The SDK's in-memory exporter stands in for a
// real one.
func Example_sdkTracing() {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer func() {
		if err := tp.Shutdown(context.Background()); err != nil {
			log.Print(err)
		}
	}()
	cluster, err := embedded.Start(embedded.Config{Brokers: 1, Topics: map[string]int32{"orders": 6}})
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	reg, err := schema.NewRegistry([]string{cluster.RegistryURL()})
	if err != nil {
		log.Fatal(err)
	}
	p, err := producer.New(producer.Brokers(cluster.Brokers()...), producer.Registry(reg),
		producer.WithTracerProvider(tp), producer.WithPropagator(propagation.TraceContext{}))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	ctx, parent := tp.Tracer("checkout").Start(context.Background(), "checkout")
	codec, err := schema.NewCodec[Created](createdAvsc)
	if err != nil {
		log.Fatal(err)
	}
	pub, err := producer.NewPublisher(ctx, p, "orders", codec)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := pub.Publish(ctx, Created{"o-1", 10}); err != nil {
		log.Fatal(err)
	}
	parent.End()

	for _, s := range exp.GetSpans() {
		if s.Name != "send orders" {
			continue
		}
		fmt.Println(s.Name, s.SpanKind, "child of checkout:", s.Parent.SpanID() == parent.SpanContext().SpanID())
		for _, a := range s.Attributes {
			switch a.Key {
			case "messaging.system", "messaging.destination.name", "messaging.operation.type",
				"messaging.destination.partition.id", "messaging.kafka.message.key":
				fmt.Printf("  %s=%s\n", a.Key, a.Value.String())
			}
		}
	}
	// Output:
	// send orders producer child of checkout: true
	//   messaging.system=kafka
	//   messaging.destination.name=orders
	//   messaging.operation.type=send
	//   messaging.destination.partition.id=0
	//   messaging.kafka.message.key=o-1
}
