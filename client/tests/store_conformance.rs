//! The `DeviceStore` conformance suite (`sotay_sync_core::conformance`) run against the phone's
//! SQLite store, so that it behaves exactly like the reference memory store.

sotay_sync_core::store_conformance!(sotay_client::store::SqliteStore::open_in_memory().unwrap());
