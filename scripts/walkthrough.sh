#!/usr/bin/env bash
# Runs README's bulk-enrollment walkthrough literally (every ```sh block between the
# `<!-- walkthrough` and `<!-- /walkthrough -->` markers) in an empty directory, then checks that
# the QR code it wrote answers: decoded with `enroll scan`, the server URL answers
# GET /api/v1/info and the DPC download location answers 200 with the file whose SHA-256 is the
# code's checksum, both fetched with the server's CA at this machine's network address.
# Needs the built `enroll` (target/debug), curl and a free port 8443.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${CARGO_TARGET_DIR:-$root/target}/debug"
[ -x "$bin/enroll" ] || (cd "$root" && cargo build -q -p enroll-cli --bin enroll)
export PATH="$bin:$PATH"
if (exec 3<>/dev/tcp/127.0.0.1/8443) 2>/dev/null; then
  echo "walkthrough: port 8443 is in use; the walkthrough's server needs it" >&2
  exit 1
fi
work="$(mktemp -d)"
script="$work/walkthrough.sh"
awk '/<!-- walkthrough/{on=1} /<!-- \/walkthrough -->/{on=0}
     on && /^```sh$/{code=1; next} code && /^```$/{code=0; next} code' "$root/README.md" >"$script"
[ -s "$script" ] || { echo "walkthrough: no sh blocks found in README.md" >&2; exit 1; }
cd "$work"
cleanup() {
  for pid in $(jobs -p); do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
echo "--- running README's walkthrough in $work"
# shellcheck disable=SC1090
source "$script" 2>walkthrough.stderr || { cat walkthrough.stderr >&2; exit 1; }
if grep -q '^warning:' walkthrough.stderr; then
  echo "walkthrough: the commands warned:" >&2; grep '^warning:' walkthrough.stderr >&2; exit 1
fi
echo "--- checking the QR code's URLs"
decoded="$(enroll --json scan warehouse.png)"
text="$(printf '%s' "$decoded" | python3 -c 'import json,sys; d=json.load(sys.stdin); d=d[0] if isinstance(d,list) else d; print(d.get("text") or d["codes"][0]["text"])')"
read -r server download sum kind < <(printf '%s' "$text" | python3 -c '
import json,sys
p=json.load(sys.stdin); x="android.app.extra."
b=p[x+"PROVISIONING_ADMIN_EXTRAS_BUNDLE"]
pk=p.get(x+"PROVISIONING_DEVICE_ADMIN_PACKAGE_CHECKSUM")
print(b["enroll.SERVER_URL"], p[x+"PROVISIONING_DEVICE_ADMIN_PACKAGE_DOWNLOAD_LOCATION"], pk or p[x+"PROVISIONING_DEVICE_ADMIN_SIGNATURE_CHECKSUM"], "package" if pk else "signature")')
echo "server URL:        $server"
echo "download location: $download ($kind checksum $sum)"
case "$server" in https://127.*|https://localhost*|https://\[::1\]*) echo "walkthrough: loopback server URL" >&2; exit 1;; esac
curl -fsS --cacert srv/ca.pem "$server/api/v1/info" >/dev/null
echo "GET $server/api/v1/info: answers"
curl -fsS --cacert srv/ca.pem -o downloaded.apk "$download"
got="$(python3 -c 'import base64,hashlib,sys; print(base64.urlsafe_b64encode(hashlib.sha256(open(sys.argv[1],"rb").read()).digest()).decode().rstrip("="))' downloaded.apk)"
[ "$kind" = package ] && [ "$got" = "${sum%=}" ] || { echo "walkthrough: the download's SHA-256 $got is not the code's checksum $sum" >&2; exit 1; }
echo "GET $download: answers, SHA-256 matches the code"
echo "walkthrough: ok"
