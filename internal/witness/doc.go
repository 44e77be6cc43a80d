// Package witness holds tests in which clients that share no code with ordo
// check ordo's promises about the wire: that a key lands on the same
// partition whichever client writes it, and that what ordo writes reads
// back unchanged.
//
// # Java client
//
// testdata/java_murmur2.tsv lists, for 10,000 keys (empty, ASCII, unicode,
// binary of every length up to 64 bytes), the partition the Apache Kafka
// Java producer's default partitioner picks for 1, 2, 3, 7, 12, 100 and
// 1000 partitions. The Java program under java/ writes it; java/gen.sh
// regenerates it, and .ci/integration.sh regenerates it and fails when it
// differs from the checked-in file. A hermetic test checks that
// partition.For agrees on every line.
//
// # kcat
//
// Under the build tag integration, kcat (librdkafka) produces keyed records
// with its murmur2_random partitioner to a real broker (see
// internal/kafkatest) and the test checks that partition.For predicts
// every record's partition; the other way round, kcat reads back a record
// ordo framed in the Confluent wire format, byte for byte.
//
// The package has no API: it is tests only.
package witness
