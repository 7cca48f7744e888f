"""What the real relay sends matches asyncapi.yaml: a session of three clients exercises every
server-to-client message; each received message is validated against the payload schema that
asyncapi.yaml documents for its op (a JSON Schema subset: type, const, enum, required,
properties, additionalProperties, items, min/max, oneOf/anyOf/allOf, $ref)."""
import os
import re
import unittest

import yaml

from relayclient import (OP, TRANSFORM, Relay, RelayClient, close_all, grab, join,
                         register_manifest, run, spawn, uid)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SPEC = os.path.join(ROOT, "asyncapi.yaml")



class SchemaError(Exception):
    pass


class Validator:
    def __init__(self, doc):
        self.doc = doc

    def resolve(self, schema):
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema:
            ref = schema["$ref"]
            if not ref.startswith("#/"):
                raise SchemaError(f"unsupported $ref {ref}")
            node = self.doc
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            schema = node
            seen += 1
            if seen > 50:
                raise SchemaError(f"$ref loop at {ref}")
        return schema

    def type_ok(self, t, v):
        return {
            "object": isinstance(v, dict),
            "array": isinstance(v, list),
            "string": isinstance(v, str),
            "integer": isinstance(v, int) and not isinstance(v, bool),
            "number": isinstance(v, (int, float)) and not isinstance(v, bool),
            "boolean": isinstance(v, bool),
            "null": v is None,
        }.get(t, True)

    def check(self, schema, v, path="$"):
        schema = self.resolve(schema)
        if schema is True or schema is None or schema == {}:
            return
        if schema is False:
            raise SchemaError(f"{path}: no value allowed")
        if v is None and schema.get("nullable"):
            return
        t = schema.get("type")
        if t is not None:
            types = t if isinstance(t, list) else [t]
            if not any(self.type_ok(x, v) for x in types):
                raise SchemaError(f"{path}: {v!r} is not of type {t}")
        if "const" in schema and v != schema["const"]:
            raise SchemaError(f"{path}: {v!r} != const {schema['const']!r}")
        if "enum" in schema and v not in schema["enum"]:
            raise SchemaError(f"{path}: {v!r} not in {schema['enum']}")
        for sub in schema.get("allOf", []):
            self.check(sub, v, path)
        for key in ("oneOf", "anyOf"):
            if key in schema:
                errs = []
                ok = 0
                for sub in schema[key]:
                    try:
                        self.check(sub, v, path)
                        ok += 1
                    except SchemaError as e:
                        errs.append(str(e))
                if ok == 0:
                    raise SchemaError(f"{path}: matches none of {key}: {errs}")
        if isinstance(v, dict):
            for r in schema.get("required", []):
                if r not in v:
                    raise SchemaError(f"{path}: required field '{r}' missing")
            props = schema.get("properties", {})
            for k, sub in props.items():
                if k in v:
                    self.check(sub, v[k], f"{path}.{k}")
            extra = schema.get("additionalProperties", True)
            for k in v:
                if k not in props:
                    if extra is False:
                        raise SchemaError(f"{path}: field '{k}' is not documented")
                    if isinstance(extra, dict):
                        self.check(extra, v[k], f"{path}.{k}")
        if isinstance(v, list):
            if "minItems" in schema and len(v) < schema["minItems"]:
                raise SchemaError(f"{path}: fewer than {schema['minItems']} items")
            if "maxItems" in schema and len(v) > schema["maxItems"]:
                raise SchemaError(f"{path}: more than {schema['maxItems']} items")
            items = schema.get("items")
            if isinstance(items, list):
                for i, (sub, x) in enumerate(zip(items, v)):
                    self.check(sub, x, f"{path}[{i}]")
            elif items is not None:
                for i, x in enumerate(v):
                    self.check(items, x, f"{path}[{i}]")
        if isinstance(v, str):
            if "minLength" in schema and len(v) < schema["minLength"]:
                raise SchemaError(f"{path}: shorter than {schema['minLength']}")
            if "maxLength" in schema and len(v) > schema["maxLength"]:
                raise SchemaError(f"{path}: longer than {schema['maxLength']}")
            if "pattern" in schema and not re.search(schema["pattern"], v):
                raise SchemaError(f"{path}: {v!r} does not match {schema['pattern']}")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if "minimum" in schema and v < schema["minimum"]:
                raise SchemaError(f"{path}: {v} < minimum {schema['minimum']}")
            if "maximum" in schema and v > schema["maximum"]:
                raise SchemaError(f"{path}: {v} > maximum {schema['maximum']}")


def op_of(validator, payload):
    """The op a payload schema documents (properties.op const, or a one-value enum)."""
    payload = validator.resolve(payload)
    if not isinstance(payload, dict):
        return []
    ops = []
    for sub in payload.get("allOf", []):
        ops += op_of(validator, sub)
    op = validator.resolve(payload.get("properties", {}).get("op", {}))
    if isinstance(op, dict):
        if "const" in op:
            ops.append(op["const"])
        elif len(op.get("enum", [])) == 1:
            ops.append(op["enum"][0])
    return ops


def schemas_by_op(doc, operation):
    """{op: [payload schema, ...]} of the messages of one side: operation "subscribe"
    (what the relay sends to clients) or "publish" (what clients send), as the channel
    /rooms/{room_id} lists them."""
    v = Validator(doc)
    out = {}
    for ch in (doc.get("channels") or {}).values():
        m = (ch.get(operation) or {}).get("message")
        if not m:
            continue
        m = v.resolve(m)
        for one in m.get("oneOf", [m]):
            one = v.resolve(one)
            payload = one.get("payload") if isinstance(one, dict) else None
            if payload is None:
                continue
            for op in op_of(v, payload):
                out.setdefault(op, []).append(payload)
    return out


def validate(v, by_op, messages):
    """Problems found validating messages against by_op (first 10)."""
    problems = []
    for m in messages:
        op = m.get("op")
        schemas = by_op.get(op)
        if not schemas:
            problems.append(f"op {op}: not documented ({m})")
            continue
        errs = []
        for s in schemas:
            try:
                v.check(s, m)
                errs = None
                break
            except SchemaError as e:
                errs.append(str(e))
        if errs:
            problems.append(f"op {op}: {errs[0]} in {m}")
    return problems[:10]


@unittest.skipUnless(os.path.exists(SPEC), "asyncapi.yaml not written yet")
class AsyncApiConformance(unittest.TestCase):
    def setUp(self):
        with open(SPEC) as f:
            self.doc = yaml.safe_load(f)
        self.v = Validator(self.doc)
        self.server_ops = schemas_by_op(self.doc, "subscribe")
        self.client_ops = schemas_by_op(self.doc, "publish")
        self.relay = Relay(self, ["--grace", "0"])

    def test_spec_documents_every_op(self):
        self.assertTrue(str(self.doc.get("asyncapi", "")).startswith(("2.", "3.")))
        for name, op in OP.items():
            self.assertTrue(op in self.server_ops or op in self.client_ops, name)
        for op in (1, 2, 3, 4, 5, 11, 12, 13, 20, 21, 22, 25, 30, 31, 32, 41, 42, 51):
            self.assertIn(op, self.server_ops, f"relay-to-client op {op} is not documented")
        for op in (10, 13, 20, 21, 22, 25, 30, 31, 32, 40, 50):
            self.assertIn(op, self.client_ops, f"client-to-relay op {op} is not documented")

    def test_relay_output_matches_schemas(self):
        async def session():
            h, a, b = await join(self.relay.port, "spec", 3)
            await register_manifest(a)
            await spawn(a, "crate", "placed_room")
            await spawn(a, "toy", "transient_held")
            g = await grab(a, "crate")
            epoch = g.get("epoch", 1)
            await grab(b, "crate")  # denied: held
            await a.send({"op": OP["REP_OBJECT"], "object_id": "crate", "seq": 1, "epoch": epoch,
                          "transform": TRANSFORM})
            await a.send({"op": OP["REP_PROPERTY"], "object_id": "crate", "seq": 2,
                          "epoch": epoch, "name": "color", "value": "#00ff00"})
            await a.send({"op": OP["REP_TRANSFORM"], "seq": 1,
                          "head": {"p": [0, 1.7, 0], "r": [0, 0, 0, 1]}})
            await b.expect(op=OP["REP_TRANSFORM"])
            await b.expect(op=OP["REP_OBJECT"])
            await b.expect(op=OP["REP_PROPERTY"])
            await a.send({"op": OP["OBJECT_PERSIST"], "object_id": "crate",
                          "persist_mode": "placed_saved"})
            await b.expect(op=OP["OBJECT_PERSIST"])
            await a.send({"op": OP["OWNERSHIP_RELEASED"], "object_id": "crate"})
            await b.expect(op=OP["OWNERSHIP_RELEASED"])
            late = await RelayClient(self.relay.port, "spec", uid(4), "late").connect()
            await late.expect(op=OP["WELCOME"])
            await late.send({"op": OP["SNAPSHOT_REQUEST"]})
            await late.expect(op=OP["SNAPSHOT_DONE"])
            await h.send({"op": OP["SAVE_REQUEST"]})
            await h.expect(op=OP["SAVE_RESULT"])
            await b.send({"op": 77})
            await b.expect(op=OP["ERROR"])
            await a.send({"op": OP["OBJECT_DESPAWN"], "object_id": "toy"})
            await b.expect(op=OP["OBJECT_DESPAWN"])
            await h.close()  # host leaves: HOST_CHANGED, PRESENCE_LEAVE
            await a.expect(op=OP["HOST_CHANGED"])
            await a.expect(op=OP["PRESENCE_LEAVE"])
            clients = [h, a, b, late]
            await close_all(clients)
            return [m for c in clients for m in c.seen], [m for c in clients for m in c.sent]

        seen, sent = run(session())
        self.assertEqual(validate(self.v, self.server_ops, seen), [])
        # what these tests send is the documented client format too (op 77 is the
        # deliberately unknown op)
        sent = [m for m in sent if m.get("op") != 77]
        self.assertEqual(validate(self.v, self.client_ops, sent), [])
        self.assertGreaterEqual({m.get("op") for m in seen},
                                {1, 2, 3, 4, 5, 11, 12, 13, 20, 21, 22, 25, 30, 31, 32, 41, 42,
                                 51})


if __name__ == "__main__":
    unittest.main()
