#!/usr/bin/env bash
# make demo: build a database from samples/ with plain SQL, explain every (image, object) pair with
# LeGrad, score the maps against the ground-truth masks, print the tables, write overlay PNGs.
#
#   scripts/demo.sh            (run by `make demo` after the build; from the repository root)
#
# Environment: DEMO_DB (default demo.db, recreated), DEMO_DATA (default samples/heldout: any
# ImageNet-S-style directory, see sql/README.md).  The model is samples/model unless LEGRAD_MODEL
# is set.  Every step is one of the SQL files in sql/, run by the sqlite3 shell.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DB=${DEMO_DB:-demo.db}
DATA=${DEMO_DATA:-samples/heldout}
export LEGRAD_MODEL=${LEGRAD_MODEL:-$ROOT/samples/model}
SQL="sqlite3 -bail $DB"
[ -f legrad0.so ] || { echo "demo: legrad0.so not built (run make)" >&2; exit 1; }
command -v sqlite3 >/dev/null || { echo "demo: the sqlite3 shell is required (apt-get install sqlite3)" >&2; exit 1; }
t0=$(date +%s%N)
elapsed() { local ns=$(( $(date +%s%N) - t0 )); printf '%d.%d s' $((ns / 1000000000)) $((ns / 100000000 % 10)); }

rm -f "$DB"
mkdir -p samples/out
echo "[1/6] import $DATA (sql/import.sql)"
(cd "$DATA" && sqlite3 -bail "$ROOT/$DB" ".read $ROOT/sql/import.sql")

total=$($SQL 'SELECT count(*) FROM labels JOIN images ON images.name = labels.image')
echo "[2/6] explain $total (image, object) pairs with legrad() (sql/explain.sql), model $LEGRAD_MODEL"
done_n=0
while [ "$done_n" -lt "$total" ]; do
  before=$done_n
  done_n=$($SQL '.load ./legrad0' '.read sql/explain.sql' 'SELECT count(*) FROM maps')
  echo "      $done_n/$total pairs  ($(elapsed))"
  [ "$done_n" -gt "$before" ] || { echo "demo: no progress explaining pairs" >&2; exit 1; }
done

echo "[3/6] score the maps against the masks (sql/evaluate.sql)"
$SQL '.load ./legrad0' '.read sql/evaluate.sql'

echo "[4/6] zero-shot classification with clip_similarity (sql/zeroshot.sql)"
$SQL '.load ./legrad0' '.read sql/zeroshot.sql'

echo "[5/6] per-layer maps for one image (sql/layers.sql)"
$SQL '.load ./legrad0' '.read sql/layers.sql'

echo "[6/6] overlays (sql/overlays.sql)"
$SQL '.load ./legrad0' '.read sql/overlays.sql'
echo "done in $(elapsed); database: $DB (tables labels, images, maps, scores, zeroshot, legrad_cache)"
