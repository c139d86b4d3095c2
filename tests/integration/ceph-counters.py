#!/usr/bin/python3
"""Read `counter schema` and `counter dump` as ceph-exporter does, and write
the Prometheus text it would serve.

  ceph-counters.py SAMPLE.json            the stored sample (both in one file)
  ceph-counters.py SCHEMA.json DUMP.json  msgrd's replies

What is checked is what ceph-exporter relies on (src/exporter in Reef and
later): each top-level key is a group holding an array of {"labels",
"counters"} objects; every counter of the schema has an integer "type"
(Ceph's bits: 1 real, 2 integer, 4 average pair, 8 counter), "metric_type"
gauge or counter matching bit 8, "value_type", "description", "nick",
an integer "priority" and "units"; the dump has the same groups, the same
label sets in the same order, and for each schema counter a value of its
type (an integer, a number, or {"avgcount", "sum"} for the pairs).
Exits 1 with the reason on the first mismatch.
"""
import json
import re
import sys


def fail(msg):
    print("ceph-counters: " + msg, file=sys.stderr)
    sys.exit(1)


def check(schema, dump):
    out = []
    if not isinstance(schema, dict) or not schema:
        fail("schema is not a non-empty object")
    for group, instances in schema.items():
        if not isinstance(instances, list) or not instances:
            fail(f"schema[{group}] is not a non-empty array")
        dinst = dump.get(group)
        if not isinstance(dinst, list) or len(dinst) != len(instances):
            fail(f"dump[{group}] does not have the schema's {len(instances)} instances")
        for i, (s, d) in enumerate(zip(instances, dinst)):
            if set(s) != {"labels", "counters"} or set(d) != {"labels", "counters"}:
                fail(f"{group}[{i}]: keys are not labels and counters")
            if s["labels"] != d["labels"]:
                fail(f"{group}[{i}]: labels differ between schema and dump")
            if not all(isinstance(v, str) for v in s["labels"].values()):
                fail(f"{group}[{i}]: a label value is not a string")
            for name, info in s["counters"].items():
                for k, t in (("type", int), ("metric_type", str), ("value_type", str),
                             ("description", str), ("nick", str), ("priority", int), ("units", str)):
                    if not isinstance(info.get(k), t) or isinstance(info.get(k), bool):
                        fail(f"{group}[{i}].{name}: schema field {k} missing or not {t.__name__}")
                bits = info["type"]
                if not bits & 3:
                    fail(f"{group}[{i}].{name}: type {bits} has neither bit 1 nor bit 2")
                if info["metric_type"] != ("counter" if bits & 8 else "gauge"):
                    fail(f"{group}[{i}].{name}: metric_type {info['metric_type']} but type {bits}")
                if name not in d["counters"]:
                    fail(f"{group}[{i}].{name}: in the schema, not in the dump")
                v = d["counters"][name]
                if bits & 4:
                    if not isinstance(v, dict) or not isinstance(v.get("avgcount"), int) or \
                            not isinstance(v.get("sum"), (int, float)):
                        fail(f"{group}[{i}].{name}: an average without avgcount and sum")
                    vals = [("_count", v["avgcount"]), ("_sum", v["sum"])]
                elif bits & 2:
                    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                        fail(f"{group}[{i}].{name}: {v!r} is not an unsigned integer")
                    vals = [("", v)]
                else:
                    if not isinstance(v, (int, float)) or isinstance(v, bool):
                        fail(f"{group}[{i}].{name}: {v!r} is not a number")
                    vals = [("", v)]
                # what ceph-exporter would serve
                metric = re.sub(r"[^a-zA-Z0-9_]", "_", f"ceph_{group}_{name}")
                labels = ",".join(f'{re.sub(r"[^a-zA-Z0-9_]", "_", k)}="{v}"'
                                  for k, v in sorted({**s["labels"], "ceph_daemon": "msgrd"}.items()))
                for sfx, val in vals:
                    out.append((metric + sfx, info["metric_type"], info["description"], labels, val))
    return out


def main():
    if len(sys.argv) == 2:
        both = json.load(open(sys.argv[1]))
        schema, dump = both["schema"], both["dump"]
    else:
        schema, dump = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
    seen = set()
    for metric, mtype, desc, labels, val in check(schema, dump):
        if metric not in seen:
            print(f"# HELP {metric} {desc}\n# TYPE {metric} {mtype}")
            seen.add(metric)
        print(f"{metric}{{{labels}}} {val}")


main()
