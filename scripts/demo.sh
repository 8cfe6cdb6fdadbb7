#!/usr/bin/env bash
# The demo: find faces and compare them on real public-domain photos.
set -euo pipefail
cd "$(dirname "$0")/.."
FL=.venv/bin/faceledger
DATA="${FACELEDGER_TEST_DATA:-../shared/data}"
say() { printf '\n== %s\n' "$*"; }

$FL version
if [ -d "$DATA/samples" ]; then
  S="$DATA/samples"
  say "Faces in a crew photo and a two-person photo"
  $FL detect "$S/nasa_iss_expedition1_crew.jpg" "$S/wh_obama_biden_2010_composite.jpg"
  say "Sideways and upside-down faces too (--rotation-search)"
  $FL detect --rotation-search --json "$S/nasa_iss_sts131_exp23_group.jpg" \
    | .venv/bin/python -c 'import json,sys; r=json.load(sys.stdin)[0]; print(len(r["faces"]), "faces, turned:", sorted(f["rotation_deg"] for f in r["faces"]))'
  say "Two photos of Barack Obama, 2009 and 2012"
  $FL compare "$S/wh_obama_2009_congress.jpg" "$S/wh_obama_2012_portrait.jpg"
  say "Barack Obama and Joe Biden"
  $FL compare "$S/wh_obama_2012_portrait.jpg" "$S/wh_biden_2010_blue_room.jpg"
  say "William Shepherd: NASA portrait and the middle of the Expedition 1 crew photo"
  $FL compare "$S/nasa_portrait_william_shepherd.jpg" "$S/nasa_iss_expedition1_crew.jpg" --face-b 2
  say "A gallery with provenance: every sample photo but one, then a search with the one left out"
  work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
  mkdir "$work/photos"
  for f in "$S"/*.jpg; do [ "$(basename "$f")" = wh_obama_2009_congress.jpg ] || cp "$f" "$work/photos/"; done
  $FL init --data-dir "$work/data"
  $FL gallery ingest "$work/photos" --source "US government public-domain photos" \
    --legal-basis "public domain (17 U.S.C. 105); demonstration only" --data-dir "$work/data"
  $FL gallery search "$S/wh_obama_2009_congress.jpg" --top-k 3 --data-dir "$work/data"
  $FL gallery stats --data-dir "$work/data"
else
  say "No $DATA/samples here: using the public-domain faces shipped in matplotlib and scikit-image"
  read -r HOPPER ASTRONAUT < <(.venv/bin/python -c 'import matplotlib.cbook as c, skimage.data as d, os
print(c.get_sample_data("grace_hopper.jpg", asfileobj=False), os.path.join(d.data_dir, "astronaut.png"))')
  $FL detect "$HOPPER" "$ASTRONAUT"
  $FL compare "$HOPPER" "$ASTRONAUT"
fi

say "A damaged file is refused with one line and a non-zero exit code"
tmp=$(mktemp -d)
.venv/bin/python -c 'import sys; from PIL import Image; Image.effect_noise((400,400),60).convert("RGB").save(sys.argv[1]); d=open(sys.argv[1],"rb").read(); open(sys.argv[1],"wb").write(d[:len(d)//2])' "$tmp/damaged.jpg"
if $FL detect "$tmp/damaged.jpg"; then echo "unexpected: the damaged file was accepted"; exit 1; else echo "(exit code $?)"; fi
rm -rf "$tmp"
