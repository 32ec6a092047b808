//! QR codes drawn on the server as SVG (`qrcodegen`, no C, no script): an enrolment code a phone's
//! camera reads. Dark modules are one path, so the image stays a few KB.

use qrcodegen::{QrCode, QrCodeEcc};
use std::fmt::Write;

/// The QR code of `text` as an SVG element (with a quiet zone of four modules), or `None` if the
/// text is too long for a QR code.
pub fn svg(text: &str) -> Option<String> {
    let qr = QrCode::encode_text(text, QrCodeEcc::Medium).ok()?;
    let border = 4;
    let size = qr.size() + border * 2;
    let mut path = String::new();
    for y in 0..qr.size() {
        for x in 0..qr.size() {
            if qr.get_module(x, y) {
                let _ = write!(path, "M{},{}h1v1h-1z", x + border, y + border);
            }
        }
    }
    let label: String = text.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    Some(format!(
        r##"<svg class="qr" viewBox="0 0 {size} {size}" role="img" aria-label="QR: {label}" shape-rendering="crispEdges"><rect width="100%" height="100%" fill="#fff"/><path d="{path}" fill="#000"/></svg>"##
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_code_draws_as_a_small_svg() {
        let svg = super::svg("F1XH-Q81D-VSYV").unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("M") && svg.len() < 8_000);
    }
}
