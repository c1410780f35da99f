# Shared by run-kotlin.sh and run-python.sh (sourced from the repository root):
# builds the debug library, generates bindings, and runs a provisioned reference server.
#
#   build_library        cargo build of the CLI (server), enroll-ffi (unstripped) and uniffi-bindgen
#   generate LANGUAGE    bindings from the library's metadata into $BINDINGS_DIR/LANGUAGE
#   start_test_server    starts `enroll server run` on 127.0.0.1:0 and exports ENROLL_TEST_* (one
#                        token user, one PIN user, one user for the wrong-PIN case, one token for
#                        the admin-extras (DPC) case); stops it on exit

TARGET_DIR="${CARGO_TARGET_DIR:-target}"
BINDINGS_DIR="$TARGET_DIR/bindings"
case "$(uname -s)" in
  Darwin) LIB_FILE="$TARGET_DIR/debug/libenroll_ffi.dylib" ;;
  *) LIB_FILE="$TARGET_DIR/debug/libenroll_ffi.so" ;;
esac

build_library() {
  # One feature set for both scripts (the CLI enables enroll-core's defaults), so the second
  # script finds everything built.
  cargo build -q -p enroll-cli -p enroll-ffi -p uniffi-bindgen
}

generate() {
  local language="$1"
  rm -rf "${BINDINGS_DIR:?}/$language"
  "$TARGET_DIR/debug/uniffi-bindgen" generate --library "$LIB_FILE" --language "$language" \
    --no-format --out-dir "$BINDINGS_DIR/$language" >/dev/null
}

json_field() { # json_field FILE FIELD: prints one field of the first JSON line of FILE
  python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())[sys.argv[2]] or "")' "$1" "$2"
}

stop_test_server() {
  if [ -n "${SERVER_PID:-}" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
  [ -n "${TEST_TMP:-}" ] && rm -rf "$TEST_TMP"
}

start_test_server() {
  TEST_TMP="$(mktemp -d)"
  trap stop_test_server EXIT
  local enroll="$TARGET_DIR/debug/enroll" data="$TEST_TMP/server"
  "$enroll" server run --data-dir "$data" --bind 127.0.0.1:0 --json >"$TEST_TMP/server.json" 2>"$TEST_TMP/server.log" &
  SERVER_PID=$!
  for _ in $(seq 1 300); do
    [ -s "$TEST_TMP/server.json" ] && break
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      cat "$TEST_TMP/server.log" >&2
      echo "the reference server did not start" >&2
      return 1
    fi
    sleep 0.1
  done
  local url
  url="$(json_field "$TEST_TMP/server.json" url)"
  [ -n "$url" ] || { echo "the reference server printed no URL" >&2; return 1; }
  local admin=(--json --server "$url" --data-dir "$data")
  "$enroll" server user-add token.user@example.com "${admin[@]}" >/dev/null
  "$enroll" server token token.user@example.com --days 7 "${admin[@]}" >"$TEST_TMP/token.json"
  "$enroll" server user-add pin.user@example.com "${admin[@]}" >/dev/null
  "$enroll" server invite pin.user@example.com --pin "${admin[@]}" >"$TEST_TMP/pin.json"
  "$enroll" server user-add dpc.user@example.com "${admin[@]}" >/dev/null
  "$enroll" server token dpc.user@example.com --days 7 "${admin[@]}" >"$TEST_TMP/dpc.json"
  "$enroll" server user-add wrong.pin@example.com "${admin[@]}" >/dev/null
  "$enroll" server invite wrong.pin@example.com --pin "${admin[@]}" >"$TEST_TMP/wrong.json"

  export ENROLL_TEST_SERVER="$url"
  export ENROLL_TEST_CA="$data/ca.pem"
  ENROLL_TEST_TOKEN="$(json_field "$TEST_TMP/token.json" token)"
  export ENROLL_TEST_TOKEN
  ENROLL_TEST_DPC_TOKEN="$(json_field "$TEST_TMP/dpc.json" token)"
  export ENROLL_TEST_DPC_TOKEN
  export ENROLL_TEST_PIN_USER=pin.user@example.com
  ENROLL_TEST_PIN_URL="$(json_field "$TEST_TMP/pin.json" url)"
  ENROLL_TEST_PIN="$(json_field "$TEST_TMP/pin.json" pin)"
  export ENROLL_TEST_PIN_URL ENROLL_TEST_PIN
  export ENROLL_TEST_WRONG_PIN_USER=wrong.pin@example.com
  ENROLL_TEST_WRONG_PIN_URL="$(json_field "$TEST_TMP/wrong.json" url)"
  ENROLL_TEST_WRONG_PIN_REAL="$(json_field "$TEST_TMP/wrong.json" pin)"
  export ENROLL_TEST_WRONG_PIN_URL ENROLL_TEST_WRONG_PIN_REAL
  local qr="../shared/qr-corpus/dev/synthetic-enroll"
  if [ -f "$qr/enroll-0034.jpg" ]; then export ENROLL_TEST_QR_DIR="$PWD/$qr"; fi
  echo "reference server at $url (data in $data)"
}
