//! What the `sotay` command says when it fails: its own errors ([`CliError`]) and [`render`], which
//! turns any error it meets (its own, the device library's, the admin functions') into one line in
//! the person's language, saying what happened and what to do. The full chain is `--debug`'s.

mod device;

use device::{device_message, store_message};
use sotay_client::ClientError;
use sotay_client::store::StoreError;
use sotay_sync_core::device::DeviceError;
use sotay_sync_core::{Coded, Field, Lang};
use std::path::PathBuf;

/// The command's own failures: a mistake in what was typed, a file of the device directory, or
/// (as the context of the admin function's error) the admin step that failed.
#[derive(Debug)]
pub enum CliError {
    /// A `--set` argument without `=`.
    ExpectedFieldValue(String),
    /// No field has this code.
    UnknownField(String),
    /// A value the field cannot take.
    BadValue {
        /// The field.
        field: Field,
        /// The value given.
        value: String,
        /// The codes the field takes, when it takes codes.
        codes: Option<String>,
    },
    /// `--kind` is neither `activity` nor `gbv_referral`.
    UnknownKind(String),
    /// No local record's id starts with this.
    NoSuchRecord(String),
    /// Several local records' ids start with this.
    AmbiguousRecord {
        /// The prefix given.
        prefix: String,
        /// How many records it matches.
        matches: usize,
    },
    /// A conflict choice of 0.
    ChoiceFromOne,
    /// No refused change with this number.
    NoSuchRefusal(u64),
    /// Not a role's code.
    UnknownRole(String),
    /// A collaborator without `--village`.
    VillageNeeded,
    /// The file to write already exists.
    FileExists(PathBuf),
    /// The server to enrol with could not be reached, or the connection broke (context of the device library's error).
    EnrolUnreachable(String),
    /// The device directory has no enrolled device.
    NotEnrolled,
    /// The phone key file does not hold a key.
    BadKey(PathBuf),
    /// A folder could not be created (context of the I/O error).
    CreateDir(PathBuf),
    /// A file could not be created or written (context of the I/O error).
    WriteFile(PathBuf),
    /// A file could not be read (context of the I/O error).
    ReadFile(PathBuf),
    /// Standard input could not be read (context of the I/O error).
    ReadStdin,
    /// An admin step failed (context of the `sotay_server` error).
    Admin(AdminStep),
}

/// The step of `sotay admin` that failed.
#[derive(Debug)]
pub enum AdminStep {
    /// Opening (creating, migrating) the database.
    OpenDatabase,
    /// `create-commune`.
    CreateCommune,
    /// `set-deadline`, with the deadline given.
    SetDeadline(String),
    /// `create-village`.
    CreateVillage,
    /// `create-unit`.
    CreateUnit,
    /// `create-user`.
    CreateUser(String),
    /// Finding the user with this login name.
    FindUser(String),
    /// `enrol-code`.
    IssueCode,
    /// `devices`.
    ListDevices,
    /// `revoke`.
    Revoke(sotay_sync_core::DeviceId),
    /// `backup`.
    Backup(PathBuf),
    /// `restore`.
    Restore(PathBuf),
    /// `rotate-signing-key`.
    RotateKey,
    /// `set-password`.
    SetPassword(String),
    /// `set-role`.
    SetRole(String),
    /// `audit`.
    Audit,
    /// `quickstart`.
    Quickstart,
}

/// One sentence in two languages: (Vietnamese, English).
type Texts = (String, String);

impl CliError {
    /// One sentence for the person: what happened and what to do.
    pub fn message(&self, lang: Lang) -> String {
        self.message_with(lang, None)
    }

    /// The sentence, with why it happened (the innermost cause) when there is one to say.
    fn message_with(&self, lang: Lang, cause: Option<&str>) -> String {
        let ((vi_what, en_what), todo) = self.parts();
        let (what, todo) = match (lang, todo) {
            (Lang::Vi, todo) => (vi_what, todo.map(|t| t.0)),
            (Lang::En, todo) => (en_what, todo.map(|t| t.1)),
        };
        let mut line = what;
        if let Some(cause) = cause.filter(|c| !c.is_empty()) {
            line = format!("{line}: {cause}");
        }
        match todo {
            Some(todo) => format!("{line}; {todo}."),
            None => format!("{line}."),
        }
    }

    /// Whether the cause under this error (when it is a context) says something the person needs.
    fn shows_cause(&self) -> bool {
        matches!(
            self,
            CliError::CreateDir(_)
                | CliError::WriteFile(_)
                | CliError::ReadFile(_)
                | CliError::ReadStdin
                | CliError::Admin(_)
        )
    }

    /// What happened, and what to do (if there is something to say).
    fn parts(&self) -> (Texts, Option<Texts>) {
        let t = |vi: String, en: String| (vi, en);
        let help = || Some(t("chạy lệnh với --help để xem cách dùng".into(), "run it with --help to see how".into()));
        match self {
            CliError::ExpectedFieldValue(s) => (
                t(format!("\"{}\" không có dạng trường=giá_trị", short(s)), format!("\"{}\" is not field=value", short(s))),
                Some(t("ví dụ --set location=\"Nhà văn hóa\"".into(), "for example --set location=\"Village hall\"".into())),
            ),
            CliError::UnknownField(f) => (
                t(format!("Không có trường \"{}\"", short(f)), format!("There is no field \"{}\"", short(f))),
                Some(t(format!("các trường là: {}", field_codes()), format!("the fields are: {}", field_codes()))),
            ),
            CliError::BadValue { field, value, codes } => (
                t(
                    format!(
                        "Giá trị \"{}\" không dùng được cho trường {} ({})",
                        short(value),
                        field.label(Lang::Vi),
                        field.code()
                    ),
                    format!("The value \"{}\" does not fit the field {} ({})", short(value), field.label(Lang::En), field.code()),
                ),
                Some(value_hint(*field, value, codes.as_deref())),
            ),
            CliError::UnknownKind(k) => (
                t(format!("Không có loại bản ghi \"{}\"", short(k)), format!("There is no record kind \"{}\"", short(k))),
                Some(t("--kind là activity hoặc gbv_referral".into(), "--kind is activity or gbv_referral".into())),
            ),
            CliError::NoSuchRecord(p) => (
                t(
                    format!("Không có bản ghi nào trên máy này có mã bắt đầu bằng \"{}\"", short(p)),
                    format!("No record on this device has an id starting with \"{}\"", short(p)),
                ),
                Some(t("chạy `sotay list` để xem các bản ghi".into(), "run `sotay list` to see the records".into())),
            ),
            CliError::AmbiguousRecord { prefix, matches } => (
                t(
                    format!("\"{}\" khớp với {matches} bản ghi", short(prefix)),
                    format!("\"{}\" matches {matches} records", short(prefix)),
                ),
                Some(t("hãy gõ thêm vài ký tự của mã".into(), "give more of the id".into())),
            ),
            CliError::ChoiceFromOne => (
                t("Các lựa chọn được đánh số từ 1".into(), "Choices are numbered from 1".into()),
                Some(t(
                    "chạy `sotay conflicts` để xem số của từng lựa chọn".into(),
                    "run `sotay conflicts` to see each choice's number".into(),
                )),
            ),
            CliError::NoSuchRefusal(n) => (
                t(
                    format!("Trên máy này không có thay đổi bị từ chối số {n}"),
                    format!("There is no refused change {n} on this device"),
                ),
                Some(t("chạy `sotay rejected` để xem danh sách".into(), "run `sotay rejected` to list them".into())),
            ),
            CliError::UnknownRole(r) => (
                t(format!("Không có vai trò \"{}\"", short(r)), format!("There is no role \"{}\"", short(r))),
                Some(t(
                    "vai trò là collaborator, reviewer, gbv_focal_point hoặc admin".into(),
                    "the role is collaborator, reviewer, gbv_focal_point or admin".into(),
                )),
            ),
            CliError::VillageNeeded => (
                t("Cộng tác viên phải thuộc một thôn".into(), "A collaborator belongs to a village".into()),
                Some(t("hãy thêm --village <mã thôn>".into(), "add --village <village id>".into())),
            ),
            CliError::FileExists(p) => (
                t(format!("Tệp {} đã có", p.display()), format!("{} already exists", p.display())),
                Some(t("hãy chọn một tên tệp mới".into(), "choose a new file name".into())),
            ),
            CliError::EnrolUnreachable(server) => (
                t(
                    format!("Không liên lạc được với máy chủ {} nên thiết bị chưa được đăng ký", short(server)),
                    format!("Could not get through to the server {}, so this device is not enrolled yet", short(server)),
                ),
                Some(t(
                    "hãy kiểm tra địa chỉ máy chủ và mạng rồi chạy lại đúng lệnh này, với cùng mã đăng ký".into(),
                    "check the server address and the network, then run this same command again with the same code"
                        .into(),
                )),
            ),
            CliError::NotEnrolled => (
                t(
                    "Thư mục thiết bị này chưa được đăng ký với máy chủ".into(),
                    "This device directory is not enrolled with a server".into(),
                ),
                Some(t(
                    "hãy chạy `sotay enrol <mã>` với mã đăng ký văn phòng xã đưa, hoặc chọn thư mục khác bằng --dir".into(),
                    "run `sotay enrol <code>` with the code from the commune office, or choose another directory with --dir".into(),
                )),
            ),
            CliError::BadKey(p) => (
                t(format!("Tệp khoá {} không chứa khoá 32 byte", p.display()), format!("{} is not a key of 32 bytes", p.display())),
                Some(t(
                    "hãy đặt lại đúng tệp khoá của thiết bị này (từ bản sao) rồi thử lại".into(),
                    "put this device's own key file back (from a copy) and try again".into(),
                )),
            ),
            CliError::CreateDir(p) => (
                t(format!("Không tạo được thư mục {}", p.display()), format!("Could not create the folder {}", p.display())),
                Some(t("hãy kiểm tra đường dẫn --dir và quyền ghi".into(), "check the --dir path and write permission".into())),
            ),
            CliError::WriteFile(p) => (
                t(format!("Không ghi được tệp {}", p.display()), format!("Could not write {}", p.display())),
                Some(t("hãy kiểm tra quyền ghi và chỗ trống trên đĩa".into(), "check write permission and free disk space".into())),
            ),
            CliError::ReadFile(p) => (
                t(format!("Không đọc được tệp {}", p.display()), format!("Could not read {}", p.display())),
                Some(t("hãy kiểm tra quyền đọc tệp".into(), "check the file's read permission".into())),
            ),
            CliError::ReadStdin => (t("Không đọc được đầu vào chuẩn".into(), "Could not read standard input".into()), help()),
            CliError::Admin(step) => step.parts(),
        }
    }
}

impl AdminStep {
    fn parts(&self) -> (Texts, Option<Texts>) {
        let t = |vi: &str, en: &str| (vi.to_string(), en.to_string());
        let check_ids = || Some(t("hãy kiểm tra các mã đã nhập", "check the ids given"));
        match self {
            AdminStep::OpenDatabase => (
                t("Không mở được cơ sở dữ liệu của máy chủ", "Could not open the server's database"),
                Some(t(
                    "hãy kiểm tra --database-url (SOTAY_DATABASE_URL) và quyền ghi vào thư mục của nó",
                    "check --database-url (SOTAY_DATABASE_URL) and that its folder can be written",
                )),
            ),
            AdminStep::CreateCommune => (t("Không tạo được xã", "Could not create the commune"), None),
            AdminStep::SetDeadline(deadline) => (
                (
                    format!("Không đặt được hạn nộp báo cáo \"{}\"", short(deadline)),
                    format!("Could not set the reporting deadline \"{}\"", short(deadline)),
                ),
                Some(t(
                    "hạn là một ngày có trong mọi năm, dạng MM-DD: ví dụ 11-25 là ngày 25 tháng 11 (không dùng 02-29); \
                     --commune là mã của một xã đã có",
                    "the deadline is a day every year has, as MM-DD: for example 11-25 for 25 November (not 02-29); \
                     --commune is the id of an existing commune",
                )),
            ),
            AdminStep::CreateVillage => (t("Không tạo được thôn", "Could not create the village"), check_ids()),
            AdminStep::CreateUnit => (
                t("Không tạo được đơn vị", "Could not create the unit"),
                Some(t(
                    "hãy kiểm tra mã xã và xem mã đơn vị đã có chưa",
                    "check the commune id and whether the unit code is taken",
                )),
            ),
            AdminStep::CreateUser(name) => (
                (
                    format!("Không tạo được người dùng \"{}\"", short(name)),
                    format!("Could not create the user \"{}\"", short(name)),
                ),
                Some(t(
                    "tên đăng nhập có thể đã có người dùng, hoặc mã xã, mã thôn không đúng",
                    "the login name may be taken, or the commune or village id is wrong",
                )),
            ),
            AdminStep::FindUser(name) => (
                (
                    format!("Không tìm thấy người dùng \"{}\"", short(name)),
                    format!("Could not find the user \"{}\"", short(name)),
                ),
                Some(t("hãy kiểm tra tên đăng nhập", "check the login name")),
            ),
            AdminStep::IssueCode => (t("Không cấp được mã đăng ký", "Could not issue an enrolment code"), None),
            AdminStep::ListDevices => (t("Không đọc được danh sách thiết bị", "Could not list the devices"), None),
            AdminStep::Revoke(device) => (
                (format!("Không thu hồi được thiết bị {device}"), format!("Could not revoke the device {device}")),
                Some(t(
                    "`sotay admin devices <tên đăng nhập>` cho biết mã các thiết bị",
                    "`sotay admin devices <username>` shows the device ids",
                )),
            ),
            AdminStep::Backup(p) => (
                (
                    format!("Không ghi được bản sao lưu {}", p.display()),
                    format!("Could not write the backup {}", p.display()),
                ),
                None,
            ),
            AdminStep::Restore(p) => (
                (format!("Không khôi phục được từ {}", p.display()), format!("Could not restore from {}", p.display())),
                Some(t(
                    "máy chủ phải đang dừng, và tệp phải là bản sao lưu của Sổ Tay",
                    "the server must be stopped, and the file must be a Sổ Tay backup",
                )),
            ),
            AdminStep::RotateKey => (t("Không thay được khoá ký", "Could not replace the signing key"), None),
            AdminStep::SetPassword(name) => (
                (
                    format!("Không đặt được mật khẩu cho \"{}\"", short(name)),
                    format!("Could not set the password of \"{}\"", short(name)),
                ),
                Some(t("mật khẩu cần ít nhất 10 ký tự", "a password has at least 10 characters")),
            ),
            AdminStep::SetRole(name) => (
                (
                    format!("Không đổi được vai trò của \"{}\"", short(name)),
                    format!("Could not change the role of \"{}\"", short(name)),
                ),
                check_ids(),
            ),
            AdminStep::Audit => (t("Không đọc được nhật ký kiểm tra", "Could not read the audit log"), None),
            AdminStep::Quickstart => (
                t("Không tạo được xã mẫu", "Could not set up the demo commune"),
                Some(t("hãy chạy quickstart trên một cơ sở dữ liệu mới", "run quickstart on a new database")),
            ),
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message(Lang::En))
    }
}

impl std::error::Error for CliError {}

/// Any error of the command as one line in `lang`: what happened, why when it helps, what to do.
/// Never a backtrace or the chain of library errors in between.
pub fn render(e: &anyhow::Error, lang: Lang) -> String {
    let line = if let Some(c) = e.downcast_ref::<CliError>() {
        let cause = (c.shows_cause() && e.chain().count() > 1).then(|| cause_text(e.root_cause(), lang));
        c.message_with(lang, cause.as_deref())
    } else if let Some(ClientError::NotEnrolled) = e.downcast_ref::<ClientError>() {
        CliError::NotEnrolled.message(lang)
    } else if let Some(c) = e.downcast_ref::<ClientError>() {
        c.message(lang)
    } else if let Some(s) = e.downcast_ref::<StoreError>() {
        store_message(s, lang)
    } else if let Some(d) = e.downcast_ref::<DeviceError<StoreError>>() {
        device_message(d, lang)
    } else {
        let cause = cause_text(e.root_cause(), lang);
        match lang {
            Lang::Vi => format!("Đã có lỗi ngoài dự kiến: {cause}; chạy lại với --debug để xem chi tiết."),
            Lang::En => format!("Something unexpected went wrong: {cause}; run again with --debug for the details."),
        }
    };
    one_line(&line)
}

/// A command line clap refused, as one line (help and version are not errors: clap prints them).
pub fn usage_message(e: &clap::Error, lang: Lang) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let context = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => s.clone(),
        Some(ContextValue::Strings(s)) => s.join(", "),
        _ => String::new(),
    };
    let (arg, value) = (short(&context(ContextKind::InvalidArg)), short(&context(ContextKind::InvalidValue)));
    let (vi, en) = match e.kind() {
        ErrorKind::InvalidSubcommand => {
            let sub = short(&context(ContextKind::InvalidSubcommand));
            (format!("Không có lệnh \"{sub}\""), format!("There is no command \"{sub}\""))
        }
        ErrorKind::UnknownArgument => (format!("Không có tùy chọn \"{arg}\""), format!("There is no option \"{arg}\"")),
        ErrorKind::MissingRequiredArgument => (format!("Còn thiếu {arg}"), format!("{arg} is missing")),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => (
            format!("Giá trị \"{value}\" không dùng được cho {arg}"),
            format!("\"{value}\" is not a valid value for {arg}"),
        ),
        ErrorKind::ArgumentConflict => {
            let prior = short(&context(ContextKind::PriorArg));
            (format!("Không dùng được {arg} cùng với {prior}"), format!("{arg} cannot be used with {prior}"))
        }
        _ => {
            // clap's own first line, without its "error: " prefix.
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or_default().trim_start_matches("error: ").to_string();
            (format!("Lệnh chưa đúng ({first})"), format!("The command is not right ({first})"))
        }
    };
    one_line(&match lang {
        Lang::Vi => format!("{vi}; chạy lệnh với --help để xem cách dùng."),
        Lang::En => format!("{en}; run it with --help to see how."),
    })
}

/// What a panic says without `--debug`: one line, no backtrace.
pub fn panic_message(what: &str, lang: Lang) -> String {
    one_line(&match lang {
        Lang::Vi => format!(
            "sotay gặp lỗi nội bộ ({}); hãy chạy lại với --debug và gửi kết quả cho người phát triển.",
            short(what)
        ),
        Lang::En => format!(
            "sotay hit an internal error ({}); run again with --debug and send the output to the developers.",
            short(what)
        ),
    })
}

/// What a field's value must look like.
fn value_hint(field: Field, value: &str, codes: Option<&str>) -> Texts {
    let t = |vi: &str, en: &str| (vi.to_string(), en.to_string());
    match field {
        Field::AttendanceFemale | Field::AttendanceMale | Field::AttendanceEthnicMinority => {
            t("giá trị là số nguyên không âm", "the value is a whole number of 0 or more")
        }
        Field::HeldOn | Field::ReportedOn => t("giá trị là ngày dạng YYYY-MM-DD", "the value is a date as YYYY-MM-DD"),
        Field::Gps => {
            t("giá trị có dạng vĩ_độ,kinh_độ, ví dụ 21.27,106.19", "the value is lat,lon, for example 21.27,106.19")
        }
        Field::ConsentToShare => t("giá trị là có hoặc không", "the value is yes or no"),
        Field::Review | Field::Deleted => t(
            "trường này không sửa trực tiếp được: hãy dùng submit, approve, return hoặc delete",
            "this field is not edited directly: use submit, approve, return or delete",
        ),
        Field::Topics | Field::ViolenceTypes | Field::ReferredTo if !value.starts_with(['+', '-']) => {
            t("dùng +mã để thêm, -mã để bỏ", "use +code to add, -code to remove")
        }
        _ => match codes {
            Some(codes) => (format!("các mã là: {codes}"), format!("the codes are: {codes}")),
            None => t("hãy kiểm tra lại giá trị", "check the value"),
        },
    }
}

/// The codes of every field a record can be given.
fn field_codes() -> String {
    Field::ALL
        .iter()
        .filter(|f| !matches!(f, Field::Review | Field::Deleted))
        .map(|f| f.code())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why, from the innermost error: common I/O failures in the person's language, others as they
/// are (one line).
fn cause_text(root: &(dyn std::error::Error + 'static), lang: Lang) -> String {
    use std::io::ErrorKind;
    if let Some(io) = root.downcast_ref::<std::io::Error>() {
        let said = match io.kind() {
            ErrorKind::NotFound => Some(("không có thư mục hay tệp này", "no such file or folder")),
            ErrorKind::PermissionDenied => Some(("không có quyền", "permission denied")),
            ErrorKind::AlreadyExists => Some(("tệp đã có", "the file already exists")),
            ErrorKind::StorageFull => Some(("đĩa đã đầy", "the disk is full")),
            ErrorKind::ReadOnlyFilesystem => Some(("đĩa chỉ cho đọc", "the disk is read-only")),
            _ => None,
        };
        if let Some((vi, en)) = said {
            return if lang == Lang::Vi { vi } else { en }.to_string();
        }
    }
    short_cause(&root.to_string())
}

/// At most this many characters of a cause or a quoted value reach the line.
const MAX_QUOTED_CHARS: usize = 200;

fn short_cause(s: &str) -> String {
    let s = one_line(s);
    if s.chars().count() <= MAX_QUOTED_CHARS {
        return s;
    }
    let mut cut: String = s.chars().take(MAX_QUOTED_CHARS).collect();
    cut.push_str("...");
    cut
}

/// A quoted value, short and on one line.
fn short(s: &str) -> String {
    let s = short_cause(s);
    if s.chars().count() <= 60 { s } else { s.chars().take(60).collect::<String>() + "..." }
}

/// Control characters (newlines, tabs) as spaces, so that the answer stays one line.
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_becomes_part_of_one_line() {
        let e = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::PermissionDenied))
            .context(CliError::CreateDir("/x".into()));
        assert_eq!(
            render(&e, Lang::Vi),
            "Không tạo được thư mục /x: không có quyền; hãy kiểm tra đường dẫn --dir và quyền ghi."
        );
        assert_eq!(
            render(&e, Lang::En),
            "Could not create the folder /x: permission denied; check the --dir path and write permission."
        );
        let e = anyhow::anyhow!("two\nlines").context(CliError::Admin(AdminStep::CreateCommune));
        assert_eq!(render(&e, Lang::En), "Could not create the commune: two lines.");
    }

    #[test]
    fn a_typing_mistake_does_not_quote_its_cause() {
        let parse = sotay_sync_core::Edit::parse("attendance_female", "abc").unwrap_err();
        let e = anyhow::Error::new(parse).context(CliError::BadValue {
            field: Field::AttendanceFemale,
            value: "abc".into(),
            codes: None,
        });
        let vi = render(&e, Lang::Vi);
        assert!(vi.starts_with("Giá trị \"abc\" không dùng được cho trường Số người tham dự nữ"), "{vi}");
        assert!(!vi.contains("expected"), "{vi}");
    }
}
