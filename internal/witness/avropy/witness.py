"""The fastavro witness for ordo's Avro (see ../avro_interop_test.go).

    python3 witness.py IN.json OUT.json

For each suite in IN, decodes every body (written by ordo with the writer
schema) into the reader schema with fastavro and writes it in the neutral
form; and writes every neutral value with the writer schema with fastavro,
as hex. Needs fastavro (pip install fastavro); exits non-zero without it.
"""

import datetime
import decimal
import io
import json
import struct
import sys
import uuid

import fastavro

PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
EPOCH_DATE = datetime.date(1970, 1, 1)
EPOCH_UTC = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
EPOCH_NAIVE = datetime.datetime(1970, 1, 1)
UNIT = {"millis": datetime.timedelta(milliseconds=1), "micros": datetime.timedelta(microseconds=1)}


def collect(schema, ns, names):
    """Indexes every named type of schema by short and full name."""
    if isinstance(schema, list):
        for branch in schema:
            collect(branch, ns, names)
    elif isinstance(schema, dict):
        t = schema.get("type")
        if t in ("record", "enum", "fixed", "error"):
            name = schema["name"]
            space = schema.get("namespace", ns) if "." not in name else name.rsplit(".", 1)[0]
            short = name.rsplit(".", 1)[-1]
            names[short] = schema
            names[(space + "." if space else "") + short] = schema
            if t in ("record", "error"):
                for f in schema["fields"]:
                    collect(f["type"], space, names)
        elif t == "array":
            collect(schema["items"], ns, names)
        elif t == "map":
            collect(schema["values"], ns, names)
        elif isinstance(t, (dict, list)):
            collect(t, ns, names)


def resolve(schema, names):
    if isinstance(schema, str) and schema not in PRIMITIVES:
        return names[schema]
    if isinstance(schema, dict) and isinstance(schema.get("type"), (dict, list)):
        return resolve(schema["type"], names)
    if isinstance(schema, dict) and isinstance(schema["type"], str) and schema["type"] not in PRIMITIVES \
            and schema["type"] not in ("record", "enum", "fixed", "array", "map", "error"):
        return names[schema["type"]]
    return schema


def kind(schema):
    if isinstance(schema, str):
        return schema, None
    if isinstance(schema, list):
        return "union", None
    return schema["type"], schema.get("logicalType")


def non_null(branches):
    return [b for b in branches if b != "null" and not (isinstance(b, dict) and b.get("type") == "null")][0]


def hexf(fmt, v):
    return ("f:" if fmt == ">f" else "d:") + struct.pack(fmt, v).hex()


def norm(schema, v, names):
    schema = resolve(schema, names)
    t, lt = kind(schema)
    if t == "union":
        return None if v is None else norm(non_null(schema), v, names)
    if t == "null":
        return None
    if t in ("record", "error"):
        return {f["name"]: norm(f["type"], v[f["name"]], names) for f in schema["fields"]}
    if t == "array":
        return [norm(schema["items"], x, names) for x in v]
    if t == "map":
        return {k: norm(schema["values"], x, names) for k, x in v.items()}
    if lt == "decimal" and t in ("bytes", "fixed"):
        return f"{v:.{schema.get('scale', 0)}f}"
    if t in ("fixed", "bytes"):
        if isinstance(v, str):
            # fastavro returns a bytes or fixed default filled in during
            # resolution as the schema's JSON string; the spec maps its
            # code points 0-255 to the bytes.
            v = v.encode("latin-1")
        return bytes(v).hex()
    if t == "enum":
        return v
    if t == "string":
        return str(v).lower() if lt == "uuid" else v
    if t == "boolean":
        return bool(v)
    if t == "float":
        return hexf(">f", float(v))
    if t == "double":
        return hexf(">d", float(v))
    if lt == "date" and isinstance(v, datetime.date):
        return (v - EPOCH_DATE).days
    if lt in ("time-millis", "time-micros") and isinstance(v, datetime.time):
        us = ((v.hour * 60 + v.minute) * 60 + v.second) * 1000000 + v.microsecond
        return us // 1000 if lt == "time-millis" else us
    if lt in ("timestamp-millis", "timestamp-micros") and isinstance(v, datetime.datetime):
        return (v - EPOCH_UTC) // UNIT[lt.rsplit("-", 1)[1]]
    if lt in ("local-timestamp-millis", "local-timestamp-micros") and isinstance(v, datetime.datetime):
        return (v - EPOCH_NAIVE) // UNIT[lt.rsplit("-", 1)[1]]
    return int(v)


def denorm(schema, n, names):
    schema = resolve(schema, names)
    t, lt = kind(schema)
    if t == "union":
        return None if n is None else denorm(non_null(schema), n, names)
    if t == "null":
        return None
    if t in ("record", "error"):
        return {f["name"]: denorm(f["type"], n[f["name"]], names) for f in schema["fields"] if f["name"] in n}
    if t == "array":
        return [denorm(schema["items"], x, names) for x in n]
    if t == "map":
        return {k: denorm(schema["values"], x, names) for k, x in n.items()}
    if lt == "decimal" and t in ("bytes", "fixed"):
        return decimal.Decimal(n)
    if t in ("fixed", "bytes"):
        return bytes.fromhex(n)
    if t == "string" and lt == "uuid":
        return uuid.UUID(n)
    if t in ("string", "enum", "boolean"):
        return n
    if t == "float":
        return struct.unpack(">f", bytes.fromhex(n[2:]))[0]
    if t == "double":
        return struct.unpack(">d", bytes.fromhex(n[2:]))[0]
    if lt == "date":
        return EPOCH_DATE + datetime.timedelta(days=n)
    if lt in ("time-millis", "time-micros"):
        us = n * 1000 if lt == "time-millis" else n
        return (datetime.datetime.min + datetime.timedelta(microseconds=us)).time()
    if lt in ("timestamp-millis", "timestamp-micros"):
        return EPOCH_UTC + n * UNIT[lt.rsplit("-", 1)[1]]
    if lt in ("local-timestamp-millis", "local-timestamp-micros"):
        return EPOCH_NAIVE + n * UNIT[lt.rsplit("-", 1)[1]]
    return n


def run_suite(s):
    out = {"name": s["name"], "decoded": [], "written": [], "errors": []}
    writer = fastavro.parse_schema(s["writer"], named_schemas={})
    reader = fastavro.parse_schema(s["reader"], named_schemas={})
    wnames, rnames = {}, {}
    collect(s["writer"], "", wnames)
    collect(s["reader"], "", rnames)
    for body in s["bodies"]:
        try:
            buf = io.BytesIO(bytes.fromhex(body))
            v = fastavro.schemaless_reader(buf, writer, reader)
            if buf.read(1):
                raise ValueError("trailing bytes")
            out["decoded"].append(norm(s["reader"], v, rnames))
        except Exception as e:  # reported, compared as a disagreement
            out["decoded"].append({"error": f"{type(e).__name__}: {e}"})
    for value in s["values"]:
        try:
            buf = io.BytesIO()
            fastavro.schemaless_writer(buf, writer, denorm(s["writer"], value, wnames))
            out["written"].append(buf.getvalue().hex())
        except Exception as e:
            out["written"].append("")
            out["errors"].append(f"write {value}: {type(e).__name__}: {e}")
    return out


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        data = json.load(f)
    out = {"suites": [run_suite(s) for s in data["suites"]], "schemas": []}
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(out, f)
    print(f"fastavro {fastavro.__version__}: {len(out['suites'])} suites", file=sys.stderr)


if __name__ == "__main__":
    main()
