// Package kafkatest runs real Apache Kafka brokers in Docker for ordo's
// integration tests (build tag integration), through testcontainers-go.
//
// # Brokers
//
// [StartBroker] starts one node that is both broker and KRaft controller;
// [StartCluster] starts several (three for the durability tests: replication
// factor 3, min.insync.replicas 2). Every container uses host networking and
// listens and advertises on 127.0.0.1 only, on free loopback ports picked
// when the cluster starts, so no test traffic leaves the loopback range.
// [Cluster.Stop], [Cluster.Kill], [Cluster.Start], [Cluster.Pause] and
// [Cluster.Unpause] take one node down and bring it back; a stopped node
// keeps its log.
//
// Containers are removed by t.Cleanup; when the test failed, each node's
// log is written to a file under the temporary directory and its tail is
// printed to the test log.
//
// # Image
//
// The image comes from the environment variable ORDO_KAFKA_IMAGE, by default
// ordo/kafka:4, the image .ci/kafka-image/build.sh builds offline. Brokers are
// configured only through the KAFKA_* environment contract of the official
// image, so on a machine that can pull, ORDO_KAFKA_IMAGE=apache/kafka:4.4.0
// runs the same tests.
//
// Docker must answer: a test that asks for a broker fails (it does not skip)
// when it cannot have one. testcontainers' reaper container is switched off
// (TESTCONTAINERS_RYUK_DISABLED=true) unless the environment says otherwise,
// since its image cannot be pulled everywhere; the harness removes what it
// starts itself.
//
// # Schema registry
//
// [RegistryURL] returns the Confluent-API schema registry the tests should
// use: the one named by ORDO_TEST_REGISTRY (set by .ci/integration.sh), or
// else an in-process srfake registry for the test.
package kafkatest
