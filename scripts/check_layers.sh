#!/bin/sh
# Checks the engine's one-way layering (docs/architecture.md): a file in engine/<layer>/ may include
# only headers of its own layer or of a lower one, never ext/ or SQLite.  Header names are unique
# across the engine (every layer folder is on the include path), which this script also checks.
#
#   scripts/check_layers.sh            # exit 0 when the layering holds, 1 with one line per violation
#
# The order, lowest first; layers on one line are peers and may not include each other.
LAYERS="core
io text
model
nn
eval
maps
explain"
cd "$(dirname "$0")/.." || exit 2

rank_of() {  # rank_of LAYER -> line number in LAYERS (1 = lowest), empty when unknown
  printf '%s\n' "$LAYERS" | awk -v l="$1" '{ for (i = 1; i <= NF; i++) if ($i == l) print NR }'
}

status=0
fail() { echo "check_layers: $*"; status=1; }

# Every folder under engine/ must be a known layer, and no source may sit directly in engine/.
for d in engine/*; do
  name=${d#engine/}
  if [ -d "$d" ]; then
    [ -n "$(rank_of "$name")" ] || fail "$d is not a layer: add it to LAYERS here and to docs/architecture.md"
  else
    fail "$d lies outside the layer folders: move it into the engine/<layer>/ it belongs to"
  fi
done

# Header names must be unique (they are included by name alone).
dups=$(ls engine/*/*.h engine/*/*.inc 2>/dev/null | sed 's#.*/##' | sort | uniq -d)
for h in $dups; do fail "$h exists in more than one layer: $(ls engine/*/"$h" | tr '\n' ' ')"; done

for f in engine/*/*.c engine/*/*.h engine/*/*.inc; do
  [ -f "$f" ] || continue
  layer=$(echo "$f" | cut -d/ -f2)
  rank=$(rank_of "$layer")
  [ -n "$rank" ] || continue
  grep -n '^[[:space:]]*#[[:space:]]*include' "$f" | while IFS= read -r line; do
    lineno=${line%%:*}
    inc=$(echo "$line" | sed -n 's/.*#[[:space:]]*include[[:space:]]*["<]\([^">]*\)[">].*/\1/p')
    case "$inc" in
      sqlite3.h|sqlite3ext.h|*/sqlite3.h|*/sqlite3ext.h)
        echo "check_layers: $f:$lineno includes <$inc>: the engine has no SQLite dependency"; continue ;;
    esac
    case "$line" in *'"'*) ;; *) continue ;; esac   # <system.h>
    target=$(ls engine/*/"$inc" 2>/dev/null | head -n 1)
    if [ -z "$target" ]; then
      echo "check_layers: $f:$lineno includes \"$inc\", which is no engine header (ext/ and tests/ are above the engine)"
      continue
    fi
    tlayer=$(echo "$target" | cut -d/ -f2)
    [ "$tlayer" = "$layer" ] && continue
    trank=$(rank_of "$tlayer")
    if [ "$trank" -ge "$rank" ]; then
      echo "check_layers: $f:$lineno includes \"$inc\" from engine/$tlayer/, which is not below engine/$layer/"
    fi
  done
done > /tmp/check_layers.$$
if [ -s /tmp/check_layers.$$ ]; then cat /tmp/check_layers.$$; status=1; fi
rm -f /tmp/check_layers.$$
[ $status -eq 0 ] && echo "check_layers: engine layering holds ($(ls engine/*/*.c engine/*/*.h | wc -l) files)"
exit $status
