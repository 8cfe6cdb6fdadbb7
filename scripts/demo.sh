#!/usr/bin/env bash
# The demo: find and compare faces on real public-domain photos, then the governed workflow end to end.
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
  say "A gallery with provenance: every sample photo but one"
  work=$PWD/demo; rm -rf "$work"; mkdir -p "$work"   # kept after the demo, for `faceledger serve`
  export FACELEDGER_DATA_DIR="$work/data"
  export FACELEDGER_INGEST_ROOTS="[\"$work/photos\"]"  # ingest reads only under configured roots
  mkdir "$work/photos"
  for f in "$S"/*.jpg; do [ "$(basename "$f")" = wh_obama_2009_congress.jpg ] || cp "$f" "$work/photos/"; done
  # Tokens go in files only their owner can read, never on a command line (every user sees those in `ps`).
  mkdir -m 700 "$work/tokens"
  keep() { (umask 077; .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["token"])' >"$work/tokens/$1"); }
  $FL init --admin chair --department OPCR --json | keep chair
  echo "created $work/data; the first admin's token, printed once by 'faceledger init', is in $work/tokens/chair"
  as() { local who=$1; shift; FACELEDGER_TOKEN_FILE="$work/tokens/$who" $FL "$@"; }
  # A new user's credential never passes through an admin: approval writes a one-time code to the outbox
  # (demo/data.outbox/<user>.txt, 0600), and the user enrols with it, choosing a password, getting a token.
  enrol() { local code; code=$(sed -n 's/^code: //p' "$work/data.outbox/$1.txt")
    printf '%s\n%s\n' "$code" "demo-password-$1" | $FL enrol "$1" | tail -n 1 | (umask 077; cat >"$work/tokens/$1"); }
  say "Two admins: the first adds the second alone (the bootstrap); every other account takes both"
  as chair user add chair2 --role admin --department OPCR
  enrol chair2
  request_id() { .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
  for spec in council:council curator:curator supervisor:supervisor analyst:analyst reviewer1:reviewer \
              reviewer2:reviewer auditor:auditor; do
    ID=$(as chair user add "${spec%%:*}" --role "${spec#*:}" --department OPCR --certified-until 2099-12-31 \
      --json | request_id)
    as chair2 user approve "$ID" >/dev/null
    enrol "${spec%%:*}"
  done
  say "Separation of duties: one person may not both search and review"
  as chair user add dual --role analyst --role reviewer --department OPCR || echo "(exit code $?)"
  as chair user list
  as curator gallery ingest "$work/photos" --source "US government public-domain photos" \
    --legal-basis "public domain (17 U.S.C. 105); demonstration only"
  PROBE="$S/wh_obama_2009_congress.jpg"
  ATTEST="photo attached to complaint C-1 of the person who filed it"
  say "No search before the council's authorisation (refused, and the refusal is ledgered)"
  as analyst search "$PROBE" --case C-1 --purpose "$ATTEST" || echo "(exit code $?)"
  say "The council grants a time-boxed pilot; a supervisor opens a case and assigns people"
  as council authority grant --reference "Council resolution 2026-14" --purpose misconduct-complaint \
    --start "$(date -u +%F)" --end "$(date -u -d '+182 days' +%F)" --max-candidates 3
  as supervisor case open C-1 --purpose misconduct-complaint --offence-type complaint-identification
  as supervisor case assign C-1 --user analyst --user reviewer1 --user reviewer2
  say "A governed search: candidates are leads, never identifications"
  RESULT=$(as analyst search "$PROBE" --case C-1 --purpose "$ATTEST" --json)
  echo "$RESULT" | .venv/bin/python -c 'import json,sys; r=json.load(sys.stdin); print(r["notice"])
for c in r["candidates"]:
    print("  candidate %s: distance %.3f (%s); %s" % (c["candidate_id"], c["distance"], c["false_match"], c["provenance"]["original_filename"]))'
  TOP=$(echo "$RESULT" | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["candidates"][0]["candidate_id"])')
  say "Two independent reviews (blind), a supervisor's sign-off, corroboration, export"
  as analyst review "$TOP" --decision possible || echo "(exit code $?: the searcher may not review)"
  as reviewer1 candidate show "$TOP"
  as reviewer1 review "$TOP" --decision possible --note "same ears and hairline"
  as reviewer2 review "$TOP" --decision possible
  as supervisor lead signoff "$TOP"
  as supervisor lead corroborate "$TOP" --evidence "the complainant confirmed the photo is of themself"
  as supervisor lead export "$TOP" --out "$work/lead.json"
  if [ -f "$DATA/video/video_01.mp4" ]; then
    say "Video: one track per face to choose from (CC BY 2.0 footage; the credit stays on every output)"
    CREDIT='Video: (c) 2012 Aaron "tango" Tang, CC BY 2.0, https://www.flickr.com/photos/hahatango/7484510910'
    $FL video faces "$DATA/video/video_01.mp4" --out "$work/video" --attribution "$CREDIT"
    say "A search with the frame a person chose; the face is small, so a supervisor records an override first"
    as supervisor video override "$DATA/video/video_01.mp4" --case C-1 --track 1 --reason "the only footage of the incident"
    as analyst video search "$DATA/video/video_01.mp4" --case C-1 --track 1 --purpose "$ATTEST"
    as analyst video search "$DATA/video/video_01.mp4" --case C-1 --all-tracks --purpose "$ATTEST" \
      || echo "(exit code $?: searching every face of a video needs the grant's permission and a warrant)"
  fi
  say "The kill switch: after a halt every search is refused"
  as supervisor authority halt --reason "council vote to pause the pilot"
  as analyst search "$PROBE" --case C-1 --purpose "$ATTEST" || echo "(exit code $?)"
  say "Oversight: the accountability report, this week's usage, the anomaly audit, the case's disclosure"
  as auditor report accountability --out "$work/reports"
  as auditor report usage --week "$(date -u +%G-W%V)" --out "$work/reports"
  as auditor audit anomalies
  as auditor case disclose C-1 --out "$work/reports/C-1-disclosure.zip"
  say "The ledger: every action and every refusal, hash-chained"
  as auditor ledger show --limit 100 | tail -n 12
  as auditor ledger verify
  say "Checked without trusting the office: a signed checkpoint, a witness on its own, the disclosure's verify.py"
  $FL ledger public-key --out "$work/office.pub"   # what the council publishes and witnesses pin
  as auditor ledger checkpoint --out "$work/checkpoint-1.txt"
  W="$work/witness"   # a witness needs only the package, its own folder and the office's public key
  env -u FACELEDGER_DATA_DIR $FL witness check --state "$W" --name council.example/w1 --public-key "$work/office.pub" \
    --checkpoint "$work/checkpoint-1.txt" > "$work/checkpoint-1.cosigned.txt"
  as council authority resume --reason "demo: open for the web UI"
  as auditor ledger checkpoint --out "$work/checkpoint-2.txt"
  as auditor ledger consistency "$work/checkpoint-1.txt" "$work/checkpoint-2.txt" > "$work/proof-1-2.json"
  env -u FACELEDGER_DATA_DIR $FL witness check --state "$W" --public-key "$work/office.pub" \
    --checkpoint "$work/checkpoint-2.txt" --proof "$work/proof-1-2.json" --out "$work/checkpoint-2.cosigned.txt" \
    | tail -n 1
  as auditor ledger cosigned "$work/checkpoint-2.cosigned.txt"   # served with the witness's line from now on
  .venv/bin/python -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("verify.py", sys.argv[2])' \
    "$work/reports/C-1-disclosure.zip" "$work/reports"
  .venv/bin/python -I "$work/reports/verify.py" "$work/reports/C-1-disclosure.zip" --public-key "$work/office.pub"
  say "The web UI and the REST API on this demo deployment"
  echo "Run:   .venv/bin/faceledger serve --data-dir demo/data"
  echo "Open:  http://127.0.0.1:8000/ui/  (API docs: http://127.0.0.1:8000/docs)"
  echo "Sign in as supervisor, analyst, reviewer1, reviewer2, auditor, curator, council, chair2; password demo-password-<name>."
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
