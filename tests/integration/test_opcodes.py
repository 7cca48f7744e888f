"""The canonical opcode table (protocol/opcodes.def) and what is generated from it: the
committed GDScript and Lua files must match a fresh run of tools/gen-opcodes.sh, the C
header the build uses too, and the generator must refuse a table where two opcodes share a
number or a name.  No binaries or network needed."""
import os
import re
import subprocess
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
GEN = os.path.join(ROOT, "tools", "gen-opcodes.sh")
DEF = os.path.join(ROOT, "protocol", "opcodes.def")


def gen(lang, def_path=DEF):
    return subprocess.run(["sh", GEN, lang, def_path], capture_output=True, text=True,
                          timeout=30)


def table():
    """[(number, NAME)] from the .def, in file order."""
    rows = []
    with open(DEF, encoding="utf-8") as f:
        for line in f:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            num, name = line.split()[:2]
            rows.append((int(num), name))
    return rows


class GeneratedFilesAreFresh(unittest.TestCase):
    def check_fresh(self, lang, committed):
        r = gen(lang)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(ROOT, committed), encoding="utf-8") as f:
            current = f.read()
        self.assertEqual(current, r.stdout,
                         f"{committed} is stale: run `make protocol` and commit it")

    def test_gdscript_fresh(self):
        self.check_fresh("gd", "protocol/opcodes.gd")

    def test_lua_fresh(self):
        self.check_fresh("lua", "protocol/opcodes.lua")

    def test_c_header_matches_table(self):
        r = gen("c")
        self.assertEqual(r.returncode, 0, r.stderr)
        found = dict((name, int(num)) for name, num in
                     re.findall(r"OP_([A-Z0-9_]+) = (\d+),", r.stdout))
        self.assertEqual(found, {name: num for num, name in table()})
        # the header the binaries were built with (when there is one) is the fresh one
        built = os.path.join(os.environ.get("ROOMSTATE_BIN") or os.path.join(ROOT, "build"),
                             "gen", "opcodes.h")
        if os.path.exists(built):
            with open(built, encoding="utf-8") as f:
                self.assertEqual(f.read(), r.stdout, f"{built} is stale: rebuild")

    def test_generated_values_match_table(self):
        want = {name: num for num, name in table()}
        with open(os.path.join(ROOT, "protocol/opcodes.gd"), encoding="utf-8") as f:
            gd = dict((n, int(v)) for n, v in re.findall(r"^const ([A-Z0-9_]+) := (\d+)", f.read(), re.M))
        with open(os.path.join(ROOT, "protocol/opcodes.lua"), encoding="utf-8") as f:
            lua = dict((n, int(v)) for n, v in re.findall(r"^  ([A-Z0-9_]+) = (\d+),", f.read(), re.M))
        self.assertEqual(gd, want)
        self.assertEqual(lua, want)
        self.assertEqual(len(want), 21)  # the contract's table
        self.assertEqual(want["REP_TRANSFORM"], 30)
        self.assertEqual(want["SNAPSHOT_DONE"], 42)

    def test_a_changed_table_makes_the_committed_files_stale(self):
        """The freshness check above can fail: a table with one more opcode generates
        something else than what is committed."""
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "opcodes.def")
            with open(DEF, encoding="utf-8") as f:
                text = f.read()
            with open(p, "w", encoding="utf-8") as f:
                f.write(text + "60 PING c->s keep-alive\n")
            for lang, committed in (("gd", "protocol/opcodes.gd"), ("lua", "protocol/opcodes.lua")):
                r = gen(lang, p)
                self.assertEqual(r.returncode, 0, r.stderr)
                with open(os.path.join(ROOT, committed), encoding="utf-8") as f:
                    self.assertNotEqual(f.read(), r.stdout)


class GeneratorRefusesDuplicates(unittest.TestCase):
    def run_on(self, extra):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "opcodes.def")
            with open(DEF, encoding="utf-8") as f:
                text = f.read()
            with open(p, "w", encoding="utf-8") as f:
                f.write(text + extra)
            return [gen(lang, p) for lang in ("c", "gd", "lua")]

    def test_duplicate_number_fails(self):
        for r in self.run_on("30 REP_DUPLICATE c->s reuses the number of REP_TRANSFORM\n"):
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("opcode 30", r.stderr)

    def test_duplicate_name_fails(self):
        for r in self.run_on("61 WELCOME s->c the same name again\n"):
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("WELCOME", r.stderr)

    def test_malformed_line_fails(self):
        for r in self.run_on("x1 BROKEN s->c not a number\n"):
            self.assertNotEqual(r.returncode, 0)

    def test_committed_table_has_unique_numbers_and_names(self):
        rows = table()
        self.assertEqual(len({n for n, _ in rows}), len(rows))
        self.assertEqual(len({name for _, name in rows}), len(rows))


if __name__ == "__main__":
    unittest.main()


class AsyncApiMatchesTable(unittest.TestCase):
    """asyncapi.yaml documents every opcode of the table under its name and number, and
    every example in it is valid against its own payload schema (JSON Schema draft 7)."""

    @classmethod
    def setUpClass(cls):
        import yaml
        with open(os.path.join(ROOT, "asyncapi.yaml"), encoding="utf-8") as f:
            cls.doc = yaml.safe_load(f)
        cls.msgs = cls.doc["components"]["messages"]

    def payload_op(self, payload):
        return payload.get("properties", {}).get("op", {}).get("const")

    def test_every_opcode_documented_under_its_name(self):
        by_name = {}
        for key, m in self.msgs.items():
            self.assertEqual(self.payload_op(m["payload"]) is not None, True, key)
            by_name.setdefault(m["name"], set()).add(self.payload_op(m["payload"]))
        for num, name in table():
            self.assertEqual(by_name.get(name), {num}, f"{name} ({num})")
        self.assertEqual(set(by_name), {name for _, name in table()})

    def test_channel_lists_every_message(self):
        ch = self.doc["channels"]["/rooms/{room_id}"]
        refs = [m["$ref"].rsplit("/", 1)[1]
                for key in ("publish", "subscribe") for m in ch[key]["message"]["oneOf"]]
        self.assertEqual(sorted(refs), sorted(self.msgs))

    def test_examples_validate(self):
        import jsonschema
        resolver = jsonschema.RefResolver("", self.doc)
        checked = 0
        for key, m in self.msgs.items():
            self.assertTrue(m.get("examples"), f"{key} has no example")
            v = jsonschema.Draft7Validator(m["payload"], resolver=resolver)
            for ex in m["examples"]:
                errs = [e.message for e in v.iter_errors(ex["payload"])]
                self.assertEqual(errs, [], f"{key}: {ex['payload']}")
                checked += 1
        self.assertGreaterEqual(checked, len(self.msgs))

    def test_schemas_reject_undocumented_fields(self):
        import jsonschema
        resolver = jsonschema.RefResolver("", self.doc)
        m = self.msgs["RepTransformOut"]
        v = jsonschema.Draft7Validator(m["payload"], resolver=resolver)
        ok = dict(m["examples"][0]["payload"])
        self.assertEqual(list(v.iter_errors(ok)), [])
        self.assertNotEqual(list(v.iter_errors(dict(ok, extra=1))), [])
        bad = dict(ok)
        del bad["from"]
        self.assertNotEqual(list(v.iter_errors(bad)), [])
