#!/usr/bin/env bash
# Regenerates the seeds that are made, not copied: the trusted CA (fixtures/ca.der), the
# signed profiles (corpus/profile_cms), the certificates (corpus/asn1_der) and the QR frames
# (corpus/qr_frame). Needs openssl, qrencode and python3. Keys are fresh each time and thrown
# away; afterwards update NOW in fuzz_targets/profile_cms.rs if the new CA starts later.
set -euo pipefail
cd "$(dirname "$0")"
here=$PWD
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
cp "$here/corpus/profile_content/enrollment.plist" content
cp "$here/corpus/profile_content/minimal.plist" minimal

req() { openssl req -new -nodes -subj "$1" -newkey "$2" ${3:+-pkeyopt "$3"} -keyout "$4.key" -out "$4.csr" 2>/dev/null; }
issue() { openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 36500 -extfile "$3" -out "$1.pem" 2>/dev/null; }

openssl req -x509 -nodes -days 36500 -subj "/O=enroll fuzzing/CN=enroll fuzz CA" -newkey ec \
  -pkeyopt ec_paramgen_curve:P-256 -keyout ca.key -out ca.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign\n' >ca.ext
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n' >leaf.ext
req "/CN=enroll fuzz intermediate" ec ec_paramgen_curve:P-384 mid && issue mid ca ca.ext
req "/O=Example, Inc./CN=profile signer" ec ec_paramgen_curve:P-256 ec && issue ec ca leaf.ext
req "/CN=chained signer" ec ec_paramgen_curve:P-384 p384 && issue p384 mid leaf.ext
req "/CN=rsa signer" rsa:2048 "" rsa && issue rsa ca leaf.ext

sign() { openssl cms -sign -binary -nodetach -outform DER "$@"; }
c="$here/corpus/profile_cms"
sign -md sha256 -in content -signer ec.pem -inkey ec.key -certfile ca.pem -out "$c/ec-p256-sha256-attrs.der"
sign -md sha256 -noattr -in content -signer ec.pem -inkey ec.key -out "$c/ec-p256-sha256-noattr.der"
sign -md sha384 -in content -signer p384.pem -inkey p384.key -certfile mid.pem -out "$c/ec-p384-chain-sha384.der"
sign -md sha512 -in minimal -signer rsa.pem -inkey rsa.key -out "$c/rsa-sha512-minimal.der"
openssl x509 -in ca.pem -outform DER -out "$here/fixtures/ca.der"
for n in ca mid ec p384 rsa; do openssl x509 -in $n.pem -outform DER -out "$here/corpus/asn1_der/cert-$n.der"; done
cp "$c/ec-p384-chain-sha384.der" "$here/corpus/asn1_der/cms-chain.der"
openssl x509 -in ca.pem -noout -startdate

cd "$here/corpus/qr_frame"
python3 - <<'PY'
import random, subprocess
random.seed(13)
def matrix(text):
    out = subprocess.run(["qrencode", "-t", "ASCII", "-m", "2", "-l", "L", text],
                         capture_output=True, text=True, check=True).stdout
    return [[r[i] == "#" for i in range(0, len(r), 2)] for r in out.split("\n") if r]
def frame(name, text, scale, pad=0, invert=False, noise=0, mask=0):
    m = matrix(text)
    w = h = len(m) * scale
    assert w <= 256
    plane = bytearray()
    for y in range(h):
        for x in range(w + (pad if y < h - 1 else 0)):
            if x >= w:
                plane.append(0x55)
                continue
            dark = m[y // scale][x // scale] != invert
            v = 20 if dark else 235
            if noise:
                v = max(0, min(255, v + random.randint(-noise, noise)))
            plane.append(v)
    # width - 1, height - 1, row padding, pass mask (0 = default cascade), plane
    open(name, "wb").write(bytes([w - 1, h - 1, pad, mask]) + plane)
frame("invitation-s4.bin", "https://mdm.example.com/go?token=ent_0123456789abcdef", 4)
frame("token-s3-padded.bin", "ent_Zm9vYmFyYmF6cXV4MTIzNDU2", 3, pad=5, noise=40, mask=0b0000011)
frame("kme-inverted-s3.bin", '{"enroll.SERVER_URL":"https://kme.example.com","enroll.ENROLLMENT_TOKEN":"ent_abcdefghijklmnop"}', 3, invert=True, mask=0b0000100)
frame("wifi-rqrr-s2.bin", "WIFI:S:Office;T:WPA;P:secret;;", 2, mask=0b1000000)
PY
