"""Re-runs every example of docs/sql-api.md and rewrites its output block, so the documented output is
always what the extension actually prints.

Usage (repository root, after `make`):  python3 scripts/sql_api_examples.py [--check]

An example is a ```sql block immediately followed by a ```text block: the sql block runs in a fresh
`sqlite3 :memory:` shell (cwd = repository root) after `.load ./legrad0`, `.mode box` and, unless the
block's first line is `-- no model`, the registration of samples/model as 'default'; its stdout and
stderr replace the text block.  A ```sql block without a following ```text block is not run.
With --check nothing is written and the exit status says whether the file is up to date.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "sql-api.md")
PREAMBLE = ["-cmd", ".load ./legrad0", "-cmd", ".mode box"]
REGISTER = ["-cmd", "INSERT INTO legrad_models(name, path) VALUES ('default', 'samples/model');"]
BLOCK = re.compile(r"```sql\n(.*?)```\n```text\n(.*?)```\n", re.S)


def run(sql):
    args = ["sqlite3"] + PREAMBLE + ([] if sql.startswith("-- no model") else REGISTER) + [":memory:"]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    env.pop("LEGRAD_MODEL", None)
    r = subprocess.run(args, input=sql, capture_output=True, text=True, cwd=ROOT, env=env)
    return r.stdout + r.stderr


def main():
    with open(DOC) as f:
        text = f.read()
    new = BLOCK.sub(lambda m: "```sql\n%s```\n```text\n%s```\n" % (m.group(1), run(m.group(1))), text)
    if "--check" in sys.argv:
        sys.exit(0 if new == text else 1)
    with open(DOC, "w") as f:
        f.write(new)


if __name__ == "__main__":
    main()
