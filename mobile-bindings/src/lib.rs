//! Sổ Tay mobile bindings (placeholder until the mobile-bindings issue): this crate will expose
//! the device side of `sync-core` to Kotlin and Swift through UniFFI, as thin objects delegating to
//! `sotay_sync_core::device::Device` over a SQLite `DeviceStore`, with one small error type at the
//! FFI edge. It is the only crate that will depend on uniffi.

/// The sync-core version these bindings wrap, so apps can report it.
pub fn core_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}
