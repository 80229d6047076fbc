"""Four threads with their own connections produce identical maps (weights shared, workspaces
per connection)."""
import threading

from conftest import SAMPLE, TINY_HF, connect, has_sample, image

import pytest


def test_four_threads_identical_maps():
    if not has_sample():
        pytest.skip("samples/model is absent (shipped by the sample-model issue)")
    imgs = [image(), image("grey_70x50.png"), image("jpeg_progressive_96x72.jpg")]
    results, errors = {}, []

    def work(k):
        try:
            db = connect(check_same_thread=False)
            db.execute("INSERT INTO legrad_models(name, path) VALUES ('default', ?)", (SAMPLE,))
            out = []
            for _ in range(2):
                for img in imgs:
                    out.append(db.execute("SELECT legrad(?, 'a photo of a cat', 'all', "
                                          "'{\"cache\": false}')", (img,)).fetchone()[0])
                    out.append(db.execute("SELECT clip_image_embedding(?)", (img,)).fetchone()[0])
            results[k] = out
            db.close()
        except Exception as e:  # reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert results[0] == results[1] == results[2] == results[3]
    assert results[0][:6] == results[0][6:]
