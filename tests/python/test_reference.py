"""legrad() and legrad_layers() through SQL against the official LeGrad algorithm in PyTorch
(autograd, tests/reference/ref_legrad.py legrad_official) on the built-in sample model.

Needs torch and Pillow (Debian python3-torch, python3-pil with /usr/bin/python3); skipped when they
are missing, and under the sanitizer pass (torch is not built for a preloaded ASan runtime).
The sample images are 64x64 PNGs at the model's input size, so preprocessing is the identity resize
plus normalisation on both sides.
"""
import json
import os
import sys

import pytest

from conftest import ROOT, SAMPLE, has_sample, one

if "libasan" in os.environ.get("LD_PRELOAD", ""):
    pytest.skip("torch reference skipped under the sanitizer pass", allow_module_level=True)
torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")
Image = pytest.importorskip("PIL.Image")
pytest.importorskip("regex", reason="the reference tokenizer needs python3-regex (scripts/deps.sh test installs it)")
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
sys.path.insert(0, os.path.join(ROOT, "samples"))
from clip_ref import load_model_dir  # noqa: E402
from ref_legrad import legrad_official  # noqa: E402
import tinyclip as tc  # noqa: E402

IMAGES = ["000000.png", "000007.png"]
PROMPT = "a photo of a green circle"


@pytest.fixture(scope="module")
def ref():
    if not has_sample():
        pytest.skip("samples/model is absent")
    torch.set_num_threads(1)
    model = load_model_dir(SAMPLE)
    tok = tc.Tokenizer.load(SAMPLE)
    with torch.no_grad():
        temb = model.encode_text(tok.batch([PROMPT]), normalize=True)
    return model, temb


def _image(name):
    path = os.path.join(ROOT, "samples", "heldout", "images", name)
    with open(path, "rb") as f:
        data = f.read()
    rgb = np.array(Image.open(path).convert("RGB"))
    return data, tc.normalise(rgb[None])[0]


@pytest.mark.parametrize("name", IMAGES)
def test_legrad_layers_matches_autograd_reference(sdb, ref, name):
    model, temb = ref
    L = model.cfg["vision"]["layers"]
    data, pixels = _image(name)
    want = legrad_official(model, pixels, temb, list(range(L)))
    rows = sdb.execute("SELECT layer, score, legrad_map_grid(map) FROM legrad_layers(?, ?, 'all', "
                       "'{\"cache\": false}')", (data, PROMPT)).fetchall()
    assert [r[0] for r in rows] == list(range(L))
    for k, (_, score, grid) in enumerate(rows):
        g = np.array(json.loads(grid))
        w = want["grid"][0, k].numpy()
        assert np.abs(g - w).max() <= 1e-5 * max(np.abs(w).max(), 1e-9), (name, k)
        assert score == pytest.approx(float(want["score"][0, k]), abs=1e-5)


@pytest.mark.parametrize("name", IMAGES)
def test_legrad_final_map_matches_autograd_reference(sdb, ref, name):
    model, temb = ref
    L = model.cfg["vision"]["layers"]
    data, pixels = _image(name)
    want = legrad_official(model, pixels, temb, [L - 2, L - 1])["final"][0].numpy()
    got = np.array(json.loads(one(sdb, "SELECT legrad_map_json(legrad(?, ?))", data, PROMPT)))
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-5


@pytest.mark.parametrize("name", IMAGES)
@pytest.mark.parametrize("method,opts,start", [("rollout", '{"start_layer": 1}', 1),
                                               ("rollout", '{"start_layer": 0}', 0),
                                               ("raw_attention", None, None)])
def test_attention_baselines_match_reference(sdb, ref, name, method, opts, start):
    """legrad_explain(img, txt, 'rollout' | 'raw_attention') against tests/reference/ref_methods.py
    (Chefer's compute_rollout_attention / last_layer_attn) on the sample model."""
    from ref_methods import attentions, final_map, raw_attention, rollout
    model, _ = ref
    data, pixels = _image(name)
    attn = attentions(model, pixels)
    rel = rollout(attn, start) if method == "rollout" else raw_attention(attn)
    grid, final = final_map(rel, model.cfg["vision"]["patch"])
    blob = one(sdb, "SELECT legrad_explain(?, ?, ?, ?)", data, PROMPT, method, opts)
    g = np.array(json.loads(one(sdb, "SELECT legrad_map_grid(?)", blob)))
    w = grid.numpy()
    assert np.abs(g - w).max() <= 1e-5 * np.abs(w).max()
    got = np.array(json.loads(one(sdb, "SELECT legrad_map_json(?)", blob)))
    assert np.abs(got - final.numpy()).max() <= 1e-5
