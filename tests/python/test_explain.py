"""legrad_explain() and legrad_methods: the table-driven path every method takes, its options and
verbatim error messages.  legrad_explain(img, txt, 'legrad', ...) must return legrad()'s bytes."""
import json

from conftest import image, one, raises

IMG = image()


def methods(db):
    cols = [d[0] for d in db.execute("SELECT * FROM legrad_methods").description]
    return {r[0]: dict(zip(cols, r)) for r in db.execute("SELECT * FROM legrad_methods")}


def test_legrad_methods(db):
    m = methods(db)
    assert "legrad" in m
    lg = m["legrad"]
    assert (lg["layers"], lg["needs_text"], lg["needs_backward"], lg["needs_relprop"],
            lg["attention"], lg["id"]) == (-2, 1, 1, 0, "none", 1)
    assert json.loads(lg["options"]) == [{
        "name": "relu", "type": "boolean", "default": True,
        "description": "clamp the gradient at 0 before averaging (official: true)"}]
    assert lg["description"].startswith("LeGrad")
    # Every method's options column is valid JSON naming each option once.
    for row in m.values():
        names = [o["name"] for o in json.loads(row["options"])]
        assert len(names) == len(set(names))
    assert db.execute("SELECT count(*) FROM legrad_methods").fetchone()[0] == len(m)


def test_legrad_explain(sdb):
    for cache in ("true", "false"):
        for opts, layers in (("{}", -2), ('{"layers": "all"}', "all"), ('{"layers": 0}', 0),
                             ('{"layers": "-1", "relu": false}', "-1")):
            o = json.loads(opts)
            legacy = {"cache": json.loads(cache)}
            if "relu" in o:
                legacy["relu"] = o["relu"]
            o["cache"] = json.loads(cache)
            a = one(sdb, "SELECT legrad_explain(?, 'a photo of a cat', 'legrad', ?)", IMG,
                    json.dumps(o))
            b = one(sdb, "SELECT legrad(?, 'a photo of a cat', ?, ?)", IMG, layers,
                    json.dumps(legacy))
            assert a == b, (opts, cache)
    # Without options, and sharing legrad()'s cache entries (same key).
    assert one(sdb, "SELECT legrad_explain(?, 'a dog', 'legrad')", IMG) == \
        one(sdb, "SELECT legrad(?, 'a dog')", IMG)
    stats = json.loads(one(sdb, "SELECT legrad_cache_stats()"))
    assert stats["hits"] >= 1


def test_legrad_explain_maps_work_everywhere(sdb):
    m = one(sdb, "SELECT legrad_explain(?, 'a cat', 'legrad', '{\"layers\": \"all\"}')", IMG)
    info = json.loads(one(sdb, "SELECT legrad_map_info(?)", m))
    assert info["method"] == "legrad"
    L = sdb.execute("SELECT layers FROM legrad_models WHERE name = 'default'").fetchone()[0]
    assert info["layers"] == list(range(L))
    assert one(sdb, "SELECT length(legrad_map_png(?)) > 0", m) == 1


def test_legrad_explain_null_inputs(sdb):
    assert one(sdb, "SELECT legrad_explain(NULL, 'a cat', 'legrad')") is None
    assert one(sdb, "SELECT legrad_explain(?, NULL, 'legrad')", IMG) is None


def test_legrad_explain_errors(sdb):
    raises(sdb, "SELECT legrad_explain(?, 'a cat')", (IMG,),
           "legrad_explain(): expected 3 or 4 arguments (image, text, method [, options])")
    raises(sdb, "SELECT legrad_explain(?, 'a cat', 'rolout')", (IMG,),
           "legrad_explain(): argument 3 (method): unknown method 'rolout' (expected one of: "
           + ", ".join(methods(sdb)) + "; SELECT name FROM legrad_methods lists them)")
    raises(sdb, "SELECT legrad_explain(?, 'a cat', 3)", (IMG,),
           "legrad_explain(): argument 3 (method) must be TEXT naming a method (one of: "
           + ", ".join(methods(sdb)) + "), found INTEGER")
    raises(sdb, "SELECT legrad_explain(?, 'a cat', 'legrad', '{\"sise\": 1}')", (IMG,),
           "legrad_explain(): argument 4 (options): unknown key \"sise\" for method 'legrad' "
           "(expected one of: model, size, resize, cache, on_error, layers, relu)")
    raises(sdb, "SELECT legrad_explain(?, 'a cat', 'legrad', '{\"relu\": 3}')", (IMG,),
           "legrad_explain(): argument 4 (options): \"relu\" of method 'legrad' must be true or "
           "false")
    raises(sdb, "SELECT legrad_explain(?, 'a cat', 'legrad', '{\"layers\": 1.5}')", (IMG,),
           "legrad_explain(): argument 4 (options): \"layers\" of method 'legrad' must be an "
           "integer layer_index (e.g. -2) or a string like \"all\", \"0-11\" or \"9,10,11\"")
    L = sdb.execute("SELECT layers FROM legrad_models WHERE name = 'default'").fetchone()[0]
    raises(sdb, "SELECT legrad_explain(?, 'a cat', 'legrad', '{\"layers\": 99}')", (IMG,),
           f"legrad_explain(): argument 4 (options): \"layers\": layer_index 99 is out of range "
           f"for a model with {L} layers (expected {-L}..{L - 1})")
    raises(sdb, "SELECT legrad_explain(?, 'a cat', 'legrad', '[1]')", (IMG,),
           "legrad_explain(): argument 4 (options) must be a JSON object like '{\"size\": 448}', "
           "found '[1]'")


def test_legrad_explain_rollout(sdb):
    L = sdb.execute("SELECT layers FROM legrad_models WHERE name = 'default'").fetchone()[0]
    m = one(sdb, "SELECT legrad_explain(?, 'a cat', 'rollout', '{\"start_layer\": 1}')", IMG)
    info = json.loads(one(sdb, "SELECT legrad_map_info(?)", m))
    assert (info["version"], info["method"], info["options"], info["layers"], info["score"]) == \
        (2, "rollout", "start_layer=1", [], None)
    assert info["flags"]["relu"] is False
    # start_layer defaults to 1; the map does not depend on the prompt (one cache entry for all).
    assert one(sdb, "SELECT legrad_explain(?, 'a dog', 'rollout')", IMG) == m
    assert one(sdb, "SELECT legrad_explain(?, 'a dog', 'rollout', '{\"cache\": false}')", IMG) == m
    m0 = one(sdb, "SELECT legrad_explain(?, 'a cat', 'rollout', '{\"start_layer\": 0}')", IMG)
    assert m0 != m
    assert json.loads(one(sdb, "SELECT legrad_map_info(?)", m0))["options"] == "start_layer=0"
    last = one(sdb, f"SELECT legrad_explain(?, 'a cat', 'rollout', '{{\"start_layer\": {L - 1}}}')",
               IMG)
    assert json.loads(one(sdb, "SELECT legrad_map_info(?)", last))["options"] == \
        f"start_layer={L - 1}"
    # Every map function and metric takes it.
    assert one(sdb, "SELECT length(legrad_map_png(?)) > 0", m) == 1
    final = json.loads(one(sdb, "SELECT legrad_map_json(?)", m))
    assert min(min(r) for r in final) == 0 and max(max(r) for r in final) == 1
    raises(sdb, "SELECT legrad_explain(?, 'a cat', 'rollout', ?)", (IMG, '{"start_layer": %d}' % L),
           f"legrad_explain(): argument 4 (options) of method 'rollout': \"start_layer\" must be an "
           f"integer from 0 to {L - 1}, found {L}")
    raises(sdb, "SELECT legrad_explain(?, 'a cat', 'rollout', '{\"start_layer\": \"1\"}')", (IMG,),
           "legrad_explain(): argument 4 (options): \"start_layer\" of method 'rollout' must be an "
           "integer")
    raises(sdb, "SELECT legrad_explain(?, 'a cat', 'rollout', '{\"relu\": false}')", (IMG,),
           "legrad_explain(): argument 4 (options): \"relu\" does not apply to method 'rollout' "
           "(its options: model, size, resize, cache, on_error, start_layer)")
    raises(sdb, "SELECT legrad_explain(?, 'a cat', 'rollout', '{\"layers\": \"all\"}')", (IMG,),
           "legrad_explain(): argument 4 (options): \"layers\" does not apply to method 'rollout' "
           "(its options: model, size, resize, cache, on_error, start_layer)")
    raises(sdb, "SELECT legrad_explain(?, 'a cat', 'legrad', '{\"start_layer\": 1}')", (IMG,),
           "legrad_explain(): argument 4 (options): \"start_layer\" does not apply to method "
           "'legrad' (its options: model, size, resize, cache, on_error, layers, relu)")


def test_legrad_explain_raw_attention(sdb):
    m = one(sdb, "SELECT legrad_explain(?, 'a cat', 'raw_attention')", IMG)
    info = json.loads(one(sdb, "SELECT legrad_map_info(?)", m))
    assert (info["version"], info["method"], info["layers"]) == (2, "raw_attention", [])
    assert "options" not in info
    g = json.loads(one(sdb, "SELECT legrad_map_grid(?)", m))
    assert all(v >= 0 for r in g for v in r) and sum(v for r in g for v in r) <= 1 + 1e-6
    assert one(sdb, "SELECT legrad_explain(?, 'a dog', 'raw_attention', '{\"size\": 128}')", IMG) != m
    raises(sdb, "SELECT legrad_explain(?, 'a cat', 'raw_attention', '{\"start_layer\": 1}')",
           (IMG,), "legrad_explain(): argument 4 (options): \"start_layer\" does not apply to "
           "method 'raw_attention' (its options: model, size, resize, cache, on_error)")


def test_legrad_explain_alternates_methods_on_one_forward(sdb):
    """Methods that keep different attention maps share the connection's workspace correctly."""
    a = [one(sdb, "SELECT legrad_explain(?, 'a cat', ?, '{\"cache\": false}')", IMG, meth)
         for meth in ("legrad", "rollout", "raw_attention", "legrad", "rollout")]
    assert a[0] == a[3] and a[1] == a[4]
    assert a[0] == one(sdb, "SELECT legrad(?, 'a cat', -2, '{\"cache\": false}')", IMG)


def test_map_from_grid_records_any_method(db):
    """legrad_map_from_grid imports a grid as any method of the table, with its options record."""
    m = one(db, "SELECT legrad_map_from_grid('[[0,1],[2,3]]', "
                "'{\"method\": \"rollout\", \"options\": \"start_layer=1\", \"patch\": 4}')")
    info = json.loads(one(db, "SELECT legrad_map_info(?)", m))
    assert (info["version"], info["method"], info["options"]) == (2, "rollout", "start_layer=1")
    m = one(db, "SELECT legrad_map_from_grid('[[0,1],[2,3]]', '{\"method\": \"raw_attention\"}')")
    assert json.loads(one(db, "SELECT legrad_map_info(?)", m))["method"] == "raw_attention"
    # LeGrad without an options record is still a version-1 blob.
    m = one(db, "SELECT legrad_map_from_grid('[[0,1],[2,3]]', '{\"method\": \"legrad\"}')")
    assert json.loads(one(db, "SELECT legrad_map_info(?)", m))["version"] == 1
    names = ", ".join(r[0] for r in db.execute("SELECT name FROM legrad_methods"))
    raises(db, "SELECT legrad_map_from_grid('[[1]]', '{\"method\": \"gradcam\"}')", (),
           "legrad_map_from_grid(): argument 2 (options): \"method\" must be \"external\" or a "
           f"method name ({names})")
    raises(db, "SELECT legrad_map_from_grid('[[1]]', '{\"method\": \"rollout\", \"options\": "
               "\"Start=1\"}')", (),
           "legrad_map_from_grid(): cannot build the map: options record byte 0 is 0x53 "
           "(expected a-z 0-9 _ = , . + -)")
