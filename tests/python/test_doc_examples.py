"""Every ```python block of README.md and docs/*.md runs as written (from the repository root, with
the extension under test in place of "./legrad0"), so the documented host code stays correct.  A
block immediately followed by a ```text block must print that text: numbers are compared with an
absolute tolerance of 2e-3 (they are rounded model outputs), everything else exactly.  A block that
needs a missing module or file is skipped with the reason."""
import glob
import os
import re
import subprocess
import sys

import pytest

from conftest import EXT, ROOT

BLOCK = re.compile(r"```python\n(.*?)```\n(?:```text\n(.*?)```\n)?", re.S)
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def blocks():
    docs = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
    for path in docs:
        with open(path) as f:
            text = f.read()
        for k, m in enumerate(BLOCK.finditer(text)):
            line = text.count("\n", 0, m.start()) + 1
            yield pytest.param(m.group(1), m.group(2), id="%s:%d" % (os.path.relpath(path, ROOT), line))


def same_output(got, want):
    """Equal up to numbers, which may differ by 2e-3."""
    g, w = NUMBER.split(got), NUMBER.split(want)
    gn, wn = NUMBER.findall(got), NUMBER.findall(want)
    return g == w and len(gn) == len(wn) and all(abs(float(a) - float(b)) <= 2e-3 for a, b in zip(gn, wn))


def test_docs_have_python_examples():
    assert len(list(blocks())) >= 3


@pytest.mark.parametrize("code,want", blocks())
def test_doc_python_example(code, want):
    for path in re.findall(r"""['"]((?:samples|tests)/[^'"]+)['"]""", code):
        if not os.path.exists(os.path.join(ROOT, path)):
            pytest.skip("the example needs %s, which is absent" % path)
    code = code.replace('"./legrad0"', repr(EXT))
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    missing = re.search(r"ModuleNotFoundError: No module named '([^']+)'", r.stderr)
    if missing:
        pytest.skip("the example needs the Python module %s" % missing.group(1))
    assert r.returncode == 0, r.stderr
    if want is not None:
        assert same_output(r.stdout, want), "printed:\n%s\ndocumented:\n%s" % (r.stdout, want)
