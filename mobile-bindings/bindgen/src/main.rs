//! `uniffi-bindgen`: generates the Kotlin, Swift and Python sources of the phone library from the
//! built library (library mode: the interface is read from the library's own metadata).

fn main() {
    uniffi::uniffi_bindgen_main()
}
