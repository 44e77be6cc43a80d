package ordo.witness;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.LocalTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.avro.Conversions;
import org.apache.avro.LogicalType;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.data.TimeConversions;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericFixed;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;

/**
 * The Apache Avro Java witness for ordo's Avro (see ../../../../../../avro_interop_test.go).
 *
 * <p>java AvroWitness IN.json OUT.json: for each suite, decodes every body (written by ordo with
 * the writer schema) into the reader schema with GenericDatumReader and logical-type conversions,
 * in the neutral form; writes every neutral value with the writer schema; and for each schema
 * pair compares the text ordo registered with the user's text, parsed by Schema.Parser.
 */
public final class AvroWitness {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
  private static final HexFormat HEX = HexFormat.of();
  private static final GenericData DATA = new GenericData();

  static {
    DATA.addLogicalTypeConversion(new Conversions.DecimalConversion());
    DATA.addLogicalTypeConversion(new Conversions.UUIDConversion());
    DATA.addLogicalTypeConversion(new TimeConversions.DateConversion());
    DATA.addLogicalTypeConversion(new TimeConversions.TimeMillisConversion());
    DATA.addLogicalTypeConversion(new TimeConversions.TimeMicrosConversion());
    DATA.addLogicalTypeConversion(new TimeConversions.TimestampMillisConversion());
    DATA.addLogicalTypeConversion(new TimeConversions.TimestampMicrosConversion());
    DATA.addLogicalTypeConversion(new TimeConversions.LocalTimestampMillisConversion());
    DATA.addLogicalTypeConversion(new TimeConversions.LocalTimestampMicrosConversion());
  }

  public static void main(String[] args) throws Exception {
    JsonNode in = JSON.readTree(new File(args[0]));
    ObjectNode out = NODES.objectNode();
    ArrayNode suites = out.putArray("suites");
    for (JsonNode s : in.get("suites")) {
      suites.add(suite(s));
    }
    ArrayNode schemas = out.putArray("schemas");
    for (JsonNode p : in.get("schemas")) {
      schemas.add(compare(p));
    }
    JSON.writeValue(new File(args[1]), out);
    System.err.println("avro java " + Schema.class.getPackage().getImplementationVersion()
        + ": " + suites.size() + " suites, " + schemas.size() + " schemas");
  }

  static ObjectNode suite(JsonNode s) {
    ObjectNode out = NODES.objectNode();
    out.put("name", s.get("name").asText());
    ArrayNode decoded = out.putArray("decoded");
    ArrayNode written = out.putArray("written");
    ArrayNode errors = out.putArray("errors");
    Schema writer = new Schema.Parser().parse(s.get("writer").toString());
    Schema reader = new Schema.Parser().parse(s.get("reader").toString());
    for (JsonNode b : s.get("bodies")) {
      try {
        byte[] body = HEX.parseHex(b.asText());
        BinaryDecoder dec = DecoderFactory.get().binaryDecoder(body, null);
        Object v = new GenericDatumReader<Object>(writer, reader, DATA).read(null, dec);
        if (!dec.isEnd()) {
          throw new IllegalStateException("trailing bytes");
        }
        decoded.add(norm(reader, v));
      } catch (Exception e) {
        decoded.add(NODES.objectNode().put("error", e.toString()));
      }
    }
    for (JsonNode v : s.get("values")) {
      try {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        BinaryEncoder enc = EncoderFactory.get().binaryEncoder(buf, null);
        new GenericDatumWriter<Object>(writer, DATA).write(denorm(writer, v), enc);
        enc.flush();
        written.add(HEX.formatHex(buf.toByteArray()));
      } catch (Exception e) {
        written.add("");
        errors.add("write " + v + ": " + e);
      }
    }
    return out;
  }

  static ObjectNode compare(JsonNode p) {
    ObjectNode out = NODES.objectNode();
    out.put("name", p.get("name").asText());
    try {
      Schema user = new Schema.Parser().parse(p.get("user").asText());
      Schema reg = new Schema.Parser().parse(p.get("registered").asText());
      boolean canonical =
          SchemaNormalization.toParsingForm(user).equals(SchemaNormalization.toParsingForm(reg));
      boolean same = user.equals(reg) && user.toString().equals(reg.toString());
      out.put("same_canonical", canonical);
      out.put("same_schema", same);
      out.put("detail", same ? "" : "user " + user + "\nregistered " + reg);
    } catch (Exception e) {
      out.put("same_canonical", false);
      out.put("same_schema", false);
      out.put("detail", e.toString());
    }
    return out;
  }

  static String logical(Schema s) {
    LogicalType lt = s.getLogicalType();
    return lt == null ? "" : lt.getName();
  }

  static Schema nonNull(Schema union) {
    for (Schema b : union.getTypes()) {
      if (b.getType() != Schema.Type.NULL) {
        return b;
      }
    }
    throw new IllegalArgumentException("union of nulls");
  }

  static JsonNode norm(Schema s, Object v) {
    String lt = logical(s);
    switch (s.getType()) {
      case NULL:
        return NODES.nullNode();
      case UNION:
        return v == null ? NODES.nullNode() : norm(s.getTypes().get(DATA.resolveUnion(s, v)), v);
      case RECORD: {
        ObjectNode o = NODES.objectNode();
        GenericRecord r = (GenericRecord) v;
        for (Schema.Field f : s.getFields()) {
          o.set(f.name(), norm(f.schema(), r.get(f.name())));
        }
        return o;
      }
      case ARRAY: {
        ArrayNode a = NODES.arrayNode();
        for (Object x : (Iterable<?>) v) {
          a.add(norm(s.getElementType(), x));
        }
        return a;
      }
      case MAP: {
        ObjectNode o = NODES.objectNode();
        for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
          o.set(e.getKey().toString(), norm(s.getValueType(), e.getValue()));
        }
        return o;
      }
      case ENUM:
        return NODES.textNode(v.toString());
      case FIXED:
        if (lt.equals("decimal")) {
          return NODES.textNode(((BigDecimal) v).toPlainString());
        }
        return NODES.textNode(HEX.formatHex(((GenericFixed) v).bytes()));
      case BYTES:
        if (lt.equals("decimal")) {
          return NODES.textNode(((BigDecimal) v).toPlainString());
        }
        ByteBuffer bb = ((ByteBuffer) v).duplicate();
        byte[] b = new byte[bb.remaining()];
        bb.get(b);
        return NODES.textNode(HEX.formatHex(b));
      case STRING:
        return NODES.textNode(lt.equals("uuid") ? v.toString().toLowerCase() : v.toString());
      case BOOLEAN:
        return NODES.booleanNode((Boolean) v);
      case FLOAT:
        return NODES.textNode(String.format("f:%08x", Float.floatToRawIntBits((Float) v)));
      case DOUBLE:
        return NODES.textNode(String.format("d:%016x", Double.doubleToRawLongBits((Double) v)));
      case INT:
        switch (lt) {
          case "date":
            return NODES.numberNode(((LocalDate) v).toEpochDay());
          case "time-millis":
            return NODES.numberNode(((LocalTime) v).toNanoOfDay() / 1_000_000L);
          default:
            return NODES.numberNode(((Number) v).longValue());
        }
      case LONG:
        switch (lt) {
          case "time-micros":
            return NODES.numberNode(((LocalTime) v).toNanoOfDay() / 1_000L);
          case "timestamp-millis":
            return NODES.numberNode(((Instant) v).toEpochMilli());
          case "timestamp-micros": {
            Instant i = (Instant) v;
            return NODES.numberNode(
                Math.addExact(Math.multiplyExact(i.getEpochSecond(), 1_000_000L), i.getNano() / 1_000L));
          }
          case "local-timestamp-millis": {
            LocalDateTime t = (LocalDateTime) v;
            return NODES.numberNode(t.toEpochSecond(ZoneOffset.UTC) * 1_000L + t.getNano() / 1_000_000L);
          }
          case "local-timestamp-micros": {
            LocalDateTime t = (LocalDateTime) v;
            return NODES.numberNode(t.toEpochSecond(ZoneOffset.UTC) * 1_000_000L + t.getNano() / 1_000L);
          }
          default:
            return NODES.numberNode(((Number) v).longValue());
        }
      default:
        throw new IllegalArgumentException("type " + s.getType());
    }
  }

  static Object denorm(Schema s, JsonNode n) {
    String lt = logical(s);
    switch (s.getType()) {
      case NULL:
        return null;
      case UNION:
        return n.isNull() ? null : denorm(nonNull(s), n);
      case RECORD: {
        GenericData.Record r = new GenericData.Record(s);
        for (Schema.Field f : s.getFields()) {
          r.put(f.name(), denorm(f.schema(), n.get(f.name())));
        }
        return r;
      }
      case ARRAY: {
        List<Object> a = new ArrayList<>();
        for (JsonNode x : n) {
          a.add(denorm(s.getElementType(), x));
        }
        return a;
      }
      case MAP: {
        Map<String, Object> m = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
          Map.Entry<String, JsonNode> e = it.next();
          m.put(e.getKey(), denorm(s.getValueType(), e.getValue()));
        }
        return m;
      }
      case ENUM:
        return new GenericData.EnumSymbol(s, n.asText());
      case FIXED:
        if (lt.equals("decimal")) {
          return new BigDecimal(n.asText());
        }
        return new GenericData.Fixed(s, HEX.parseHex(n.asText()));
      case BYTES:
        if (lt.equals("decimal")) {
          return new BigDecimal(n.asText());
        }
        return ByteBuffer.wrap(HEX.parseHex(n.asText()));
      case STRING:
        return lt.equals("uuid") ? UUID.fromString(n.asText()) : n.asText();
      case BOOLEAN:
        return n.asBoolean();
      case FLOAT:
        return Float.intBitsToFloat(Integer.parseUnsignedInt(n.asText().substring(2), 16));
      case DOUBLE:
        return Double.longBitsToDouble(Long.parseUnsignedLong(n.asText().substring(2), 16));
      case INT:
        switch (lt) {
          case "date":
            return LocalDate.ofEpochDay(n.asLong());
          case "time-millis":
            return LocalTime.ofNanoOfDay(n.asLong() * 1_000_000L);
          default:
            return n.asInt();
        }
      case LONG: {
        long x = n.asLong();
        switch (lt) {
          case "time-micros":
            return LocalTime.ofNanoOfDay(x * 1_000L);
          case "timestamp-millis":
            return Instant.ofEpochMilli(x);
          case "timestamp-micros":
            return Instant.ofEpochSecond(Math.floorDiv(x, 1_000_000L), Math.floorMod(x, 1_000_000L) * 1_000L);
          case "local-timestamp-millis":
            return LocalDateTime.ofEpochSecond(
                Math.floorDiv(x, 1_000L), (int) Math.floorMod(x, 1_000L) * 1_000_000, ZoneOffset.UTC);
          case "local-timestamp-micros":
            return LocalDateTime.ofEpochSecond(
                Math.floorDiv(x, 1_000_000L), (int) Math.floorMod(x, 1_000_000L) * 1_000, ZoneOffset.UTC);
          default:
            return x;
        }
      }
      default:
        throw new IllegalArgumentException("type " + s.getType());
    }
  }
}
