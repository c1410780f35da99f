//! `uniffi-bindgen`: generates the Kotlin, Swift and Python bindings of `enroll-ffi`.
//!
//! A separate crate so that building the library never compiles the generator. Run it on an
//! unstripped build (a stripped library has no uniffi metadata):
//!
//! ```sh
//! cargo run -p uniffi-bindgen -- generate --library target/debug/libenroll_ffi.so \
//!     --language kotlin --out-dir target/bindings/kotlin
//! ```

fn main() {
    uniffi::uniffi_bindgen_main()
}
