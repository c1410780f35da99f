#!/usr/bin/env bash
# Builds apple/EnrollFFI.xcframework and the generated Swift bindings (macOS with Xcode only).
#
#   slices: iOS device (aarch64-apple-ios), iOS simulator (aarch64-apple-ios-sim + x86_64-apple-ios,
#           merged with lipo), macOS (aarch64-apple-darwin + x86_64-apple-darwin, merged with lipo);
#   one module map (module EnrollFFI) shared by every slice;
#   Swift bindings generated with uniffi-bindgen (bindings/uniffi-bindgen) from an unstripped
#   host build, into apple/Sources/Enroll/Generated/.
#
# PROFILE=mobile (default: size-optimised, LTO) or PROFILE=release / debug.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(uname -s)" = Darwin ] || { echo "build-xcframework.sh needs macOS with Xcode" >&2; exit 1; }
profile="${PROFILE:-mobile}"
case "$profile" in debug) profile_dir=debug; profile_args=() ;; *) profile_dir="$profile"; profile_args=(--profile "$profile") ;; esac
target_dir="${CARGO_TARGET_DIR:-target}"
export IPHONEOS_DEPLOYMENT_TARGET="${IPHONEOS_DEPLOYMENT_TARGET:-15.0}"
export MACOSX_DEPLOYMENT_TARGET="${MACOSX_DEPLOYMENT_TARGET:-12.0}"

targets=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin)
rustup target add "${targets[@]}"
for t in "${targets[@]}"; do
  echo "== $t"
  cargo build -p enroll-ffi ${profile_args[@]+"${profile_args[@]}"} --target "$t"
done

# Bindings come from an unstripped host build: the mobile profile strips the uniffi metadata.
cargo build -p enroll-ffi -p uniffi-bindgen
gen="$target_dir/bindings/swift"
rm -rf "$gen"
"$target_dir/debug/uniffi-bindgen" generate --library "$target_dir/debug/libenroll_ffi.dylib" \
  --language swift --out-dir "$gen"

work="$target_dir/apple"
rm -rf "$work"
mkdir -p "$work/headers" "$work/ios-simulator" "$work/macos"
cp "$gen/EnrollFFI.h" "$work/headers/"
cp "$gen/EnrollFFI.modulemap" "$work/headers/module.modulemap"

lib() { echo "$target_dir/$1/$profile_dir/libenroll_ffi.a"; }
lipo -create "$(lib aarch64-apple-ios-sim)" "$(lib x86_64-apple-ios)" -output "$work/ios-simulator/libenroll_ffi.a"
lipo -create "$(lib aarch64-apple-darwin)" "$(lib x86_64-apple-darwin)" -output "$work/macos/libenroll_ffi.a"

rm -rf apple/EnrollFFI.xcframework
xcodebuild -create-xcframework \
  -library "$(lib aarch64-apple-ios)" -headers "$work/headers" \
  -library "$work/ios-simulator/libenroll_ffi.a" -headers "$work/headers" \
  -library "$work/macos/libenroll_ffi.a" -headers "$work/headers" \
  -output apple/EnrollFFI.xcframework

mkdir -p apple/Sources/Enroll/Generated
cp "$gen/Enroll.swift" apple/Sources/Enroll/Generated/Enroll.swift
echo "built apple/EnrollFFI.xcframework and apple/Sources/Enroll/Generated/Enroll.swift"
