#!/usr/bin/env bash
# docs/report.png from the example archive: `docsum run` on a fresh SQLite file in a temporary folder, the batch's
# report, and a headless Chromium screenshot of it. Nothing of this machine shows: the report gives sources relative
# to the folder the run was given (the full path only on hover), and the temporary folder is removed.
#   bash scripts/report_picture.sh [OUT.png]      (needs chromium: `make services` installs it)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/report.png}"
browser="$(command -v chromium || command -v chromium-browser || true)"
[ -n "$browser" ] || { echo "error: chromium is not installed (make services installs it)" >&2; exit 2; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export DOCSUM_DATABASE_URL="sqlite:///$tmp/docsum.db" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
cp -r examples/archive "$tmp/archive"
code=0
.venv/bin/docsum run "$tmp/archive" --report "$tmp/report.html" >/dev/null || code=$?
[ "$code" -eq 0 ] || [ "$code" -eq 6 ] || { echo "error: docsum run exited $code" >&2; exit "$code"; }
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,1700 \
  --screenshot="$tmp/report.png" "file://$tmp/report.html" >/dev/null 2>&1
mv "$tmp/report.png" "$out"
echo "$out"
