//! What can go wrong on the device, as one typed error with a stable code an app switches on and
//! one sentence for the person holding the phone, in their language. Every sync failure says
//! whether the data is safe (it always is: the store commits whole batches or nothing) and what
//! happens next.

use sotay_sync_core::Lang;
use std::time::Duration;

/// Errors of the device: talking to the server, the local store, the session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error.
    #[error("server said {status}: {code}: {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The server's stable error code.
        code: String,
        /// The server's message (in the language asked for).
        message: String,
        /// When the server asked to be tried again.
        retry_after: Option<Duration>,
    },
    /// The device was revoked by the commune office.
    #[error("this device has been revoked")]
    Revoked,
    /// The server could not be reached at all (no route, refused, name not found).
    #[error("the server could not be reached: {0}")]
    Unreachable(String),
    /// The connection was cut or stalled after it was made.
    #[error("the connection was interrupted: {0}")]
    Interrupted(String),
    /// The server's answer could not be used.
    #[error("unusable answer from the server: {0}")]
    Protocol(String),
    /// The phone's own storage failed; nothing was changed.
    #[error("local storage failed: {0}")]
    Storage(String),
    /// The GBV referrals on this phone are locked (no key, a wrong key, or too long without a
    /// sync); activities still work.
    #[error("the GBV referrals on this phone are locked: {0}")]
    Locked(String),
    /// The name or password given to sign in again is wrong.
    #[error("wrong name or password")]
    BadPassword,
    /// The password was right, but for another account than this phone's.
    #[error("signed in as another account than this phone's")]
    WrongAccount,
    /// The sync was cancelled by the app.
    #[error("cancelled")]
    Cancelled,
    /// A plain-HTTP address that is not this machine, without permission to use one.
    #[error("refusing to send credentials over plain HTTP to {0}")]
    InsecureUrl(String),
    /// An address that is not a URL.
    #[error("not a server address: {0}")]
    BadUrl(String),
    /// This phone is not enrolled (or its credential is gone).
    #[error("this device is not enrolled")]
    NotEnrolled,
    /// This phone is already enrolled: wipe it first to enrol again.
    #[error("this device is already enrolled")]
    AlreadyEnrolled,
    /// The server's certificate is not one this phone trusts (unknown authority, wrong name,
    /// expired): refused before anything was sent.
    #[error("the server's certificate is not trusted: {0}")]
    Untrusted(String),
    /// The certificate authority given to trust (`ClientConfig::extra_roots`) cannot be used.
    #[error("the certificate authority given cannot be used: {0}")]
    BadCertificate(String),
    /// The store was opened without its phone key (or with another), so the device secret
    /// sealed under it cannot be read: the phone cannot sign in to sync.
    #[error("the phone's key is missing or wrong, so its device secret cannot be read")]
    KeyNeeded,
}

impl ClientError {
    /// Whether trying the same thing again later may succeed (network faults, a busy server).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Unreachable(_) | ClientError::Interrupted(_) => true,
            ClientError::Server { status, .. } => matches!(status, 408 | 429 | 500 | 502 | 503 | 504),
            _ => false,
        }
    }

    /// A stable code an app can switch on.
    pub fn code(&self) -> &'static str {
        match self {
            ClientError::Server { status: 401, code, .. } if code == "unauthorized" => "unauthorized",
            ClientError::Server { status: 409, .. } => "code_used",
            ClientError::Server { status: 408 | 429 | 503, .. } => "server_busy",
            ClientError::Server { status, .. } if *status >= 500 => "server_error",
            ClientError::Server { status: 401, .. } => "unauthorized",
            ClientError::Server { status: 403, .. } => "forbidden",
            ClientError::Server { .. } => "refused",
            ClientError::Revoked => "revoked",
            ClientError::Unreachable(_) => "offline",
            ClientError::Interrupted(_) => "network",
            ClientError::Protocol(_) => "protocol",
            ClientError::Storage(_) => "storage",
            ClientError::Locked(_) => "locked",
            ClientError::WrongAccount => "wrong_account",
            ClientError::BadPassword => "bad_password",
            ClientError::Cancelled => "cancelled",
            ClientError::InsecureUrl(_) => "insecure_url",
            ClientError::BadUrl(_) => "bad_url",
            ClientError::NotEnrolled => "not_enrolled",
            ClientError::AlreadyEnrolled => "already_enrolled",
            ClientError::KeyNeeded => "key_needed",
            ClientError::BadCertificate(_) => "bad_certificate",
            ClientError::Untrusted(_) => "untrusted_server",
        }
    }

    /// One sentence for the person: what happened, whether the data is safe, what happens next.
    pub fn message(&self, lang: Lang) -> String {
        let vi = lang == Lang::Vi;
        let safe = if vi {
            "Dữ liệu vẫn được lưu an toàn trên điện thoại"
        } else {
            "Your data is safe on this phone"
        };
        match (self.code(), self) {
            ("offline", _) => pick(
                vi,
                format!("Không kết nối được máy chủ. {safe} và sẽ được gửi ở lần đồng bộ sau."),
                format!("Could not reach the server. {safe} and will be sent at the next sync."),
            ),
            ("network", _) => pick(
                vi,
                format!("Mạng bị ngắt trong khi đồng bộ. {safe}; hãy đồng bộ lại khi có sóng."),
                format!("The connection dropped during the sync. {safe}; sync again when there is coverage."),
            ),
            ("server_busy", _) => pick(
                vi,
                format!("Máy chủ đang bận. {safe}; hãy thử lại sau vài phút."),
                format!("The server is busy. {safe}; try again in a few minutes."),
            ),
            ("server_error", _) => pick(
                vi,
                format!("Máy chủ gặp lỗi. {safe}; hãy thử lại sau hoặc báo văn phòng xã."),
                format!("The server had a fault. {safe}; try again later or tell the commune office."),
            ),
            ("revoked", _) => pick(
                vi,
                "Điện thoại này đã bị thu hồi nên dữ liệu về bạo lực giới đã được xoá khỏi máy; hãy liên hệ văn phòng xã.".into(),
                "This phone was revoked, so its gender-based violence data has been removed; contact the commune office.".into(),
            ),
            ("unauthorized", _) | ("not_enrolled", _) => pick(
                vi,
                format!("Máy chủ không còn nhận điện thoại này. {safe}; hãy xin văn phòng xã mã đăng ký mới."),
                format!("The server no longer accepts this phone. {safe}; ask the commune office for a new enrolment code."),
            ),
            ("code_used", _) => pick(
                vi,
                "Mã đăng ký này đã được dùng; hãy xin văn phòng xã một mã mới.".into(),
                "This enrolment code has already been used; ask the commune office for a new one.".into(),
            ),
            ("forbidden", _) => pick(
                vi,
                format!("Tài khoản của bạn không được làm việc này. {safe}."),
                format!("Your account may not do this. {safe}."),
            ),
            ("refused", ClientError::Server { message, .. }) => pick(
                vi,
                format!("Máy chủ từ chối yêu cầu: {message} {safe}."),
                format!("The server refused the request: {message} {safe}."),
            ),
            ("protocol", _) => pick(
                vi,
                format!("Máy chủ trả lời không hợp lệ. {safe}; hãy cập nhật ứng dụng hoặc báo văn phòng xã."),
                format!("The server's answer could not be used. {safe}; update the app or tell the commune office."),
            ),
            ("storage", _) => pick(
                vi,
                "Không ghi được vào bộ nhớ điện thoại nên chưa có gì thay đổi; hãy giải phóng bộ nhớ rồi thử lại.".into(),
                "The phone's storage could not be written, so nothing was changed; free some space and try again.".into(),
            ),
            ("locked", _) => pick(
                vi,
                "Hồ sơ bạo lực giới trên điện thoại đang được khoá để bảo vệ; hãy đăng nhập lại bằng mật khẩu của bạn để mở.".into(),
                "The gender-based violence records on this phone are locked to protect them; sign in again with your password to open them.".into(),
            ),
            ("bad_password", _) => pick(
                vi,
                "Tên đăng nhập hoặc mật khẩu không đúng; hãy nhập lại.".into(),
                "The name or password is wrong; enter them again.".into(),
            ),
            ("wrong_account", _) => pick(
                vi,
                "Tài khoản vừa đăng nhập không phải tài khoản của điện thoại này; hãy đăng nhập bằng tài khoản của bạn.".into(),
                "That account is not this phone's; sign in with your own account.".into(),
            ),
            ("cancelled", _) => pick(
                vi,
                format!("Đã dừng đồng bộ. {safe} và sẽ được gửi ở lần đồng bộ sau."),
                format!("The sync was stopped. {safe} and will be sent at the next sync."),
            ),
            ("insecure_url", _) => pick(
                vi,
                "Địa chỉ máy chủ phải bắt đầu bằng https://; hãy kiểm tra lại địa chỉ văn phòng xã đưa.".into(),
                "The server address must start with https://; check the address the commune office gave you.".into(),
            ),
            ("bad_url", _) => pick(
                vi,
                "Địa chỉ máy chủ không đúng; hãy kiểm tra lại địa chỉ văn phòng xã đưa.".into(),
                "The server address is not valid; check the address the commune office gave you.".into(),
            ),
            ("already_enrolled", _) => pick(
                vi,
                "Điện thoại này đã được đăng ký; muốn đăng ký lại thì phải xoá dữ liệu trên máy trước.".into(),
                "This phone is already enrolled; wipe it before enrolling again.".into(),
            ),
            ("untrusted_server", _) => pick(
                vi,
                format!("Điện thoại không tin chứng chỉ của máy chủ nên chưa gửi gì. {safe}; hãy kiểm tra địa chỉ máy chủ, hoặc xin văn phòng xã chứng chỉ của máy chủ xã."),
                format!("This phone does not trust the server's certificate, so nothing was sent. {safe}; check the server address, or ask the commune office for its server's certificate."),
            ),
            ("bad_certificate", _) => pick(
                vi,
                "Chứng chỉ của máy chủ xã cài trong ứng dụng không dùng được; hãy kiểm tra lại tệp văn phòng xã đưa.".into(),
                "The commune server's certificate authority set in the app cannot be used; check the file the commune office gave you.".into(),
            ),
            ("key_needed", _) => pick(
                vi,
                format!("Ứng dụng chưa mở được khoá bảo vệ của điện thoại nên chưa đồng bộ được. {safe}; hãy mở lại ứng dụng, nếu vẫn lỗi thì báo văn phòng xã."),
                format!("The app could not open this phone's protection key, so it cannot sync. {safe}; reopen the app, and tell the commune office if this goes on."),
            ),
            _ => pick(vi, format!("Đã có lỗi. {safe}."), format!("Something went wrong. {safe}.")),
        }
    }
}

fn pick(vi: bool, v: String, e: String) -> String {
    if vi { v } else { e }
}

impl From<reqwest::Error> for ClientError {
    fn from(e: reqwest::Error) -> Self {
        // One line, no chain of library errors: the details are for logs, not people.
        let detail = std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| s.to_string());
        if let Some(why) = certificate_refused(&e) {
            ClientError::Untrusted(why)
        } else if e.is_connect() {
            ClientError::Unreachable(detail)
        } else {
            ClientError::Interrupted(detail)
        }
    }
}

/// The reason rustls refused the server's certificate, if that is why a request failed: found in
/// the error's chain, directly or wrapped in the I/O errors the connection reported.
fn certificate_refused(e: &reqwest::Error) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(rustls::Error::InvalidCertificate(why)) = tls_error(s) {
            return Some(format!("{why:?}"));
        }
        source = s.source();
    }
    None
}

/// A rustls error, itself or inside (nested) I/O errors, whose `source` skips the error they wrap.
fn tls_error<'a>(mut e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    loop {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        let inner: &'a (dyn std::error::Error + Send + Sync + 'static) =
            e.downcast_ref::<std::io::Error>()?.get_ref()?;
        e = inner;
    }
}

impl From<crate::store::StoreError> for ClientError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Locked(lock) => ClientError::Locked(lock.to_string()),
            e => ClientError::Storage(e.to_string()),
        }
    }
}

impl<E: std::error::Error + 'static> From<sotay_sync_core::device::DeviceError<E>> for ClientError {
    fn from(e: sotay_sync_core::device::DeviceError<E>) -> Self {
        use sotay_sync_core::device::DeviceError;
        match e {
            DeviceError::Store(e) => match (&e as &dyn std::error::Error).downcast_ref::<crate::store::StoreError>() {
                Some(crate::store::StoreError::Locked(lock)) => ClientError::Locked(lock.to_string()),
                _ => ClientError::Storage(e.to_string()),
            },
            other => ClientError::Protocol(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sync_failure_says_the_data_is_safe_in_both_languages() {
        let errors = [
            ClientError::Unreachable("x".into()),
            ClientError::Interrupted("x".into()),
            ClientError::Server { status: 503, code: "unavailable".into(), message: "m".into(), retry_after: None },
            ClientError::Server { status: 500, code: "internal".into(), message: "m".into(), retry_after: None },
            ClientError::Protocol("x".into()),
            ClientError::Cancelled,
        ];
        for e in errors {
            let vi = e.message(Lang::Vi);
            let en = e.message(Lang::En);
            assert!(vi.contains("an toàn"), "{vi}");
            assert!(en.contains("safe"), "{en}");
            assert!(!vi.contains('\n') && !en.contains('\n'));
        }
    }

    #[test]
    fn transient_errors_are_the_ones_worth_retrying() {
        assert!(ClientError::Interrupted("cut".into()).is_transient());
        let busy =
            ClientError::Server { status: 503, code: "unavailable".into(), message: String::new(), retry_after: None };
        assert!(busy.is_transient());
        assert_eq!(busy.code(), "server_busy");
        let refused = ClientError::Server {
            status: 422,
            code: "unprocessable".into(),
            message: String::new(),
            retry_after: None,
        };
        assert!(!refused.is_transient());
        assert!(!ClientError::Revoked.is_transient());
    }
}
