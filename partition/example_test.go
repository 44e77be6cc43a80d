package partition_test

import (
	"errors"
	"fmt"

	"github.com/ordo-go/ordo/partition"
)

type OrderPaid struct {
	OrderID string
	Cents   int64
}

// PartitionKey keeps all events of one order on one partition.
func (e OrderPaid) PartitionKey() string { return e.OrderID }

func ExampleFor() {
	key := []byte(OrderPaid{OrderID: "order-42"}.PartitionKey())
	// The same partition the Java client and librdkafka choose.
	fmt.Println(partition.For(key, 12))
	// Output:
	// 0
}

func ExampleGuard() {
	var g partition.Guard
	fmt.Println(g.Check("orders", 6))
	err := g.Check("orders", 12)
	var changed *partition.CountChangedError
	if errors.As(err, &changed) {
		fmt.Println(changed.Topic, changed.Was, "->", changed.Now)
	}
	// Output:
	// <nil>
	// orders 6 -> 12
}

func ExampleChecker() {
	s := partition.NewStamper(0)
	c := partition.NewChecker(0)
	key := []byte("order-42")
	first, second, third := s.Next(key), s.Next(key), s.Next(key)
	fmt.Println(c.Observe("producer-1", key, first))
	fmt.Println(c.Observe("producer-1", key, third)) // second is missing
	fmt.Println(c.Observe("producer-1", key, second))
	// Output:
	// first
	// gap
	// regressed
}
