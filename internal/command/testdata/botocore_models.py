"""Prints the tables of internal/command/models.go from the service models
of the botocore installed (pip install botocore): the operations whose
answer the CLI writes to a file (an output payload that is a blob), and
the operations of REST services sent as HTTP DELETE whose names do not say
delete. Run: python3 internal/command/testdata/botocore_models.py"""

import gzip
import json
import os
import re

import botocore

ROOT = os.path.join(os.path.dirname(botocore.__file__), "data")
DELETES = set("delete terminate remove detach disassociate deregister revoke purge destroy release abort untag "
              "deprovision discard drop erase wipe truncate rm rb mv cancel rebuild".split())
LATER = set("delete terminate remove purge destroy deregister erase wipe truncate".split())


def xform(name):
    """botocore's xform_name with dashes: the CLI's name of an operation."""
    if "-" in name:
        return name
    m = re.search(r"[A-Z]{2,}s$", name)
    if m:
        name = name[: -len(m.group())] + "-" + m.group().lower()
    s1 = re.sub(r"(.)([A-Z][a-z]+)", r"\1-\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1-\2", s1).lower()


def models():
    for svc in sorted(os.listdir(ROOT)):
        d = os.path.join(ROOT, svc)
        if not os.path.isdir(d):
            continue
        versions = sorted(v for v in os.listdir(d) if os.path.isdir(os.path.join(d, v)))
        for name in ("service-2.json", "service-2.json.gz"):
            path = os.path.join(d, versions[-1], name) if versions else ""
            if path and os.path.exists(path):
                with (gzip.open(path) if path.endswith(".gz") else open(path)) as f:
                    yield ("s3api" if svc == "s3" else svc), json.load(f)
                break


outfiles, deletes = set(), set()
for cli, data in models():
    shapes = data["shapes"]
    for op, o in data["operations"].items():
        name = cli + " " + xform(op)
        out = o.get("output", {}).get("shape")
        if out and shapes[out].get("payload"):
            member = shapes[out]["members"][shapes[out]["payload"]]
            if shapes[member["shape"]].get("type") == "blob":
                outfiles.add(name)
        if data["metadata"].get("protocol") in ("rest-json", "rest-xml") and o.get("http", {}).get("method") == "DELETE":
            words = xform(op).split("-")
            verb = words[1] if words[0] in ("admin", "batch") and len(words) > 1 else words[0]
            if verb not in DELETES and not LATER.intersection(words[1:]):
                deletes.add(name)
print("botocore", botocore.__version__)
print("outfileOperations:", " ".join(sorted(outfiles)))
print("deleteOperations:", " ".join(sorted(deletes)))
