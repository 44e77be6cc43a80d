package ordo.witness;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Reads every record of a topic with the Apache Kafka Java client, from the
 * start of each partition to its end offset at start-up, and prints one line
 * per record: partition, offset, key, value and headers, bytes in base64 so
 * the Go side can compare them byte for byte with what ordo wrote.
 *
 * <p>Usage: ReadTopic BOOTSTRAP TOPIC
 */
public final class ReadTopic {
  public static void main(String[] args) throws Exception {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    Base64.Encoder b64 = Base64.getEncoder();
    try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
      List<TopicPartition> tps = new ArrayList<>();
      for (PartitionInfo pi : c.partitionsFor(args[1], Duration.ofSeconds(30))) {
        tps.add(new TopicPartition(pi.topic(), pi.partition()));
      }
      c.assign(tps);
      c.seekToBeginning(tps);
      Map<TopicPartition, Long> end = c.endOffsets(tps, Duration.ofSeconds(30));
      long want = 0;
      for (TopicPartition tp : tps) {
        want += end.get(tp) - c.position(tp, Duration.ofSeconds(30));
      }
      long got = 0;
      long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
      StringBuilder out = new StringBuilder();
      while (got < want && System.nanoTime() < deadline) {
        for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) {
          got++;
          out.setLength(0);
          out.append(r.partition()).append('\t').append(r.offset()).append('\t');
          out.append(r.key() == null ? "-" : b64.encodeToString(r.key())).append('\t');
          out.append(r.value() == null ? "-" : b64.encodeToString(r.value())).append('\t');
          boolean first = true;
          for (Header h : r.headers()) {
            if (!first) {
              out.append(',');
            }
            first = false;
            out.append(h.key()).append('=').append(b64.encodeToString(h.value()));
          }
          System.out.println(out);
        }
      }
      if (got < want) {
        System.err.println("ReadTopic: read " + got + " of " + want + " records in 60s");
        System.exit(1);
      }
    }
  }
}
