#!/usr/bin/env bash
# Builds the mobile library with the size-optimised `mobile` profile (opt-level z, LTO, one
# codegen unit, stripped, panic = unwind) for the host and reports its size against the 3 MiB
# budget (QR scanning, TLS, HTTP, plist and CMS inside). Exits non-zero over budget.
#
#   scripts/mobile-size.sh [--target TRIPLE]   e.g. --target aarch64-linux-android (cargo-ndk env)
#   scripts/mobile-size.sh --floor             also the size floor: uniffi + tokio + rustls +
#                                              reqwest alone, then + QR, + plist, + public roots
#                                              (scripts/size-floor, same profile and flags)
#
# The library is built from enroll-ffi alone, so enroll-core's `image-files` feature (the
# `image` crate) stays out. Note: a stripped library has no uniffi metadata; generate bindings
# from an unstripped build (`cargo build -p enroll-ffi`, or
# `--config profile.mobile.strip=false`).
set -euo pipefail
cd "$(dirname "$0")/.."

budget=$((3 * 1024 * 1024))
target_args=()
target=""
floor=0
while [ $# -gt 0 ]; do
  case "$1" in
    --target) [ -n "${2:-}" ] || { echo "--target needs a triple" >&2; exit 2; }
              target="$2"; target_args=(--target "$target"); shift 2 ;;
    --floor) floor=1; shift ;;
    *) echo "usage: $0 [--target TRIPLE] [--floor]" >&2; exit 2 ;;
  esac
done

# Link flags of the shipped library (Android's are in .cargo/config.toml, Apple's linker packs
# relocations as chained fixups by default):
# - packed relative relocations: the ~0.4 MB of R_*_RELATIVE entries (vtables, string tables)
#   become a bitmap (DT_RELR; glibc >= 2.36. Android uses the APS2 packing, API 23+);
# - identical code folding: generic instances that compiled to the same bytes are kept once;
# - frame pointers: each function's unwind entry then describes its frame in a few fixed
#   instructions instead of one per push and pop (-95 KB of .eh_frame for +28 KB of code on
#   x86_64), and profilers and crash reporters can walk the stack without the tables. Apple
#   targets always keep frame pointers.
# The link flags need lld (rustc's default linker for x86_64 Linux since 1.90).
if [ -z "$target" ] || [[ "$target" == *-linux-gnu ]]; then
  export RUSTFLAGS="${RUSTFLAGS:-} -C link-arg=-Wl,-z,pack-relative-relocs -C link-arg=-Wl,--icf=all -C force-frame-pointers=yes"
fi

cargo build -p enroll-ffi --profile mobile ${target_args[@]+"${target_args[@]}"}

dir="${CARGO_TARGET_DIR:-target}${target:+/$target}/mobile"
lib=""
for f in "$dir/libenroll_ffi.so" "$dir/libenroll_ffi.dylib"; do
  [ -f "$f" ] && lib="$f" && break
done
[ -n "$lib" ] || { echo "no library found in $dir" >&2; exit 1; }

size=$(wc -c <"$lib")
# The profile strips symbols already; strip again (if available) to report the shipped size.
stripped=$(mktemp)
trap 'rm -f "$stripped"' EXIT
cp "$lib" "$stripped"
strip_tool="${STRIP:-strip}"
if command -v "$strip_tool" >/dev/null 2>&1 && "$strip_tool" "$stripped" 2>/dev/null; then
  size=$(wc -c <"$stripped")
fi
mib() { awk -v s="$1" 'BEGIN { printf "%.2f", s / 1048576 }'; }

if [ "$floor" = 1 ]; then
  # One build per feature set of the floor crate; each figure is the stripped cdylib.
  floor_dir="${CARGO_TARGET_DIR:-$PWD/target}/size-floor"
  base=""
  for features in "" qr plist roots; do
    echo "size floor: building with features [${features}]" >&2
    CARGO_TARGET_DIR="$floor_dir" cargo build --quiet --manifest-path scripts/size-floor/Cargo.toml \
      --profile mobile ${features:+--features "$features"} ${target_args[@]+"${target_args[@]}"}
    f="$floor_dir${target:+/$target}/mobile/libsize_floor.so"
    [ -f "$f" ] || f="${f%.so}.dylib"
    bytes=$(wc -c <"$f")
    [ -n "$base" ] || base=$bytes
    printf 'size floor [%s]: %s bytes (%s MiB), +%s over uniffi + tokio + rustls + reqwest\n' \
      "${features:-base}" "$bytes" "$(mib "$bytes")" "$((bytes - base))"
  done
fi

if [ "$size" -le "$budget" ]; then
  echo "mobile library: $lib: $size bytes ($(mib "$size") MiB) stripped: within the 3 MiB budget"
else
  echo "mobile library: $lib: $size bytes ($(mib "$size") MiB) stripped: OVER the 3 MiB budget" >&2
  exit 1
fi
deps="$(cargo tree -p enroll-ffi -e normal --prefix none ${target_args[@]+"${target_args[@]}"} 2>/dev/null || true)"
if grep -q '^image v' <<<"$deps"; then
  echo "warning: the image crate is in enroll-ffi's dependency tree" >&2
fi
