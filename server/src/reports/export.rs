//! Downloads of a report: an XLSX workbook with one worksheet per table, and one CSV file for the whole report
//! that Excel opens with its Vietnamese text intact. Both show exactly the cells of the report model, so a
//! suppressed cell stays "<5" everywhere.

use super::table::{Cell, Report, Row, SUPPRESSED_TEXT, Table};
use rust_xlsxwriter::{ColNum, Format, FormatAlign, FormatBorder, RowNum, Workbook, Worksheet, XlsxError};
use std::collections::HashSet;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The XLSX writer failed.
    #[error("writing the workbook failed: {0}")]
    Xlsx(#[from] XlsxError),
    /// A table has more rows or columns than a worksheet can hold.
    #[error("the table {0:?} does not fit in a worksheet")]
    TooLarge(String),
}

/// Excel's longest sheet name, in UTF-16 code units.
const SHEET_NAME_MAX: usize = 31;
/// The worksheet row of the table heading; the rows above it hold the report and the table titles.
const HEADING_ROW: RowNum = 2;
/// The widest column, in characters.
const COLUMN_WIDTH_MAX: f64 = 60.0;
/// The number format of counts.
const COUNT_FORMAT: &str = "#,##0";

/// The report's title, commune, period and generation time, in that order.
fn report_fields(report: &Report) -> [&str; 4] {
    [&report.title, &report.commune, &report.period, &report.generated_at]
}

/// The report as an XLSX workbook: one worksheet per table, named after its title.
pub fn xlsx(report: &Report) -> Result<Vec<u8>, ExportError> {
    let mut workbook = Workbook::new();
    let formats = Formats::new();
    let names = sheet_names(report);
    if report.tables.is_empty() {
        let sheet = workbook.add_worksheet();
        sheet.set_name(names[0].as_str())?;
        write_report_line(sheet, report, &formats)?;
    }
    for (table, name) in report.tables.iter().zip(&names) {
        let sheet = workbook.add_worksheet();
        sheet.set_name(name.as_str())?;
        write_table(sheet, report, table, &formats)?;
    }
    Ok(workbook.save_to_buffer()?)
}

struct Formats {
    report: Format,
    title: Format,
    heading_label: Format,
    heading_value: Format,
    count: Format,
    suppressed: Format,
    text: Format,
    total_label: Format,
    total_count: Format,
    total_suppressed: Format,
    total_text: Format,
}

impl Formats {
    fn new() -> Self {
        let heading = Format::new().set_bold().set_text_wrap().set_border_bottom(FormatBorder::Thin);
        let total = Format::new().set_bold().set_border_top(FormatBorder::Thin);
        Formats {
            report: Format::new().set_bold().set_font_size(13),
            title: Format::new().set_bold(),
            heading_label: heading.clone(),
            heading_value: heading.set_align(FormatAlign::Center),
            count: Format::new().set_num_format(COUNT_FORMAT),
            suppressed: Format::new().set_align(FormatAlign::Right),
            text: Format::new(),
            total_label: total.clone(),
            total_count: total.clone().set_num_format(COUNT_FORMAT),
            total_suppressed: total.clone().set_align(FormatAlign::Right),
            total_text: total,
        }
    }
}

fn write_report_line(sheet: &mut Worksheet, report: &Report, formats: &Formats) -> Result<(), ExportError> {
    let line = report_fields(report).into_iter().filter(|field| !field.is_empty()).collect::<Vec<_>>().join(" · ");
    sheet.write_string_with_format(0, 0, line, &formats.report)?;
    Ok(())
}

fn write_table(sheet: &mut Worksheet, report: &Report, table: &Table, formats: &Formats) -> Result<(), ExportError> {
    let too_large = || ExportError::TooLarge(table.title.clone());
    let width = table.rows.iter().chain(&table.totals).map(|row| row.cells.len()).chain([table.columns.len()]).max();
    let width = width.unwrap_or(0);
    if width >= usize::from(ColNum::MAX) {
        return Err(too_large());
    }
    write_report_line(sheet, report, formats)?;
    sheet.write_string_with_format(1, 0, table.title.as_str(), &formats.title)?;

    // Widths in characters, per column, from the heading and the cells (not the title rows, which may overflow).
    let mut widths = vec![0usize; width + 1];
    sheet.write_string_with_format(HEADING_ROW, 0, table.row_heading.as_str(), &formats.heading_label)?;
    widths[0] = text_width(&table.row_heading);
    for (j, heading) in table.columns.iter().enumerate() {
        sheet.write_string_with_format(HEADING_ROW, column(j + 1), heading.as_str(), &formats.heading_value)?;
        widths[j + 1] = text_width(heading);
    }
    sheet.set_freeze_panes(HEADING_ROW + 1, 0)?;

    let rows = table.rows.iter().map(|row| (row, false)).chain(table.totals.iter().map(|row| (row, true)));
    for (n, (row, total)) in rows.enumerate() {
        let r = RowNum::try_from(n).ok().and_then(|n| n.checked_add(HEADING_ROW + 1)).ok_or_else(too_large)?;
        write_row(sheet, r, row, total, formats, &mut widths)?;
    }
    for (j, &chars) in widths.iter().enumerate() {
        // Bold headings and a little padding: about 1.1 width units a character, plus 2.
        let fitted = (chars as f64 * 1.1 + 2.0).clamp(6.0, COLUMN_WIDTH_MAX);
        sheet.set_column_width(column(j), fitted)?;
    }
    Ok(())
}

fn write_row(
    sheet: &mut Worksheet,
    r: RowNum,
    row: &Row,
    total: bool,
    formats: &Formats,
    widths: &mut [usize],
) -> Result<(), ExportError> {
    let label_format = if total { &formats.total_label } else { &formats.text };
    sheet.write_string_with_format(r, 0, row.label.as_str(), label_format)?;
    widths[0] = widths[0].max(text_width(&row.label));
    for (j, cell) in row.cells.iter().enumerate() {
        let c = column(j + 1);
        let chars = match cell {
            Cell::Count(n) => {
                let format = if total { &formats.total_count } else { &formats.count };
                // Counts stay exact as f64 far beyond any real count (2^53).
                sheet.write_number_with_format(r, c, *n as f64, format)?;
                count_width(*n)
            }
            Cell::Suppressed => {
                let format = if total { &formats.total_suppressed } else { &formats.suppressed };
                sheet.write_string_with_format(r, c, SUPPRESSED_TEXT, format)?;
                SUPPRESSED_TEXT.len()
            }
            Cell::Text(text) => {
                let format = if total { &formats.total_text } else { &formats.text };
                sheet.write_string_with_format(r, c, text.as_str(), format)?;
                text_width(text)
            }
        };
        widths[j + 1] = widths[j + 1].max(chars);
    }
    Ok(())
}

/// A worksheet column; callers have checked the table's width against `ColNum::MAX`.
fn column(j: usize) -> ColNum {
    ColNum::try_from(j).unwrap_or(ColNum::MAX)
}

/// The displayed width of a text in characters, not counting combining marks (decomposed Vietnamese tones).
fn text_width(text: &str) -> usize {
    text.chars().filter(|&c| !is_combining(c)).count()
}

/// The displayed width of a count with thousands separators.
fn count_width(n: u64) -> usize {
    let digits = n.to_string().len();
    digits + (digits - 1) / 3
}

fn is_combining(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}' | '\u{20D0}'..='\u{20FF}')
}

/// One sheet name per table (one for the report when it has no table): the title without the characters Excel
/// forbids, at most 31 UTF-16 units, not starting or ending with an apostrophe, not "History", and unique
/// regardless of case ("Tên (2)", "Tên (3)", … for repeats).
fn sheet_names(report: &Report) -> Vec<String> {
    let titles: Vec<(&str, &str)> = if report.tables.is_empty() {
        vec![(report.title.as_str(), "")]
    } else {
        report.tables.iter().map(|table| (table.title.as_str(), table.key.as_str())).collect()
    };
    let mut used: HashSet<String> = HashSet::from(["history".to_owned()]);
    let mut names = Vec::with_capacity(titles.len());
    for (n, (title, key)) in titles.into_iter().enumerate() {
        let mut base = clean_sheet_name(title);
        if base.is_empty() {
            base = clean_sheet_name(key);
        }
        if base.is_empty() {
            base = format!("Bảng {}", n + 1);
        }
        let mut name = truncate_utf16(&base, SHEET_NAME_MAX);
        let mut repeat = 1;
        while used.contains(&name.to_lowercase()) {
            repeat += 1;
            let suffix = format!(" ({repeat})");
            name = format!("{}{suffix}", truncate_utf16(&base, SHEET_NAME_MAX - suffix.len()));
        }
        used.insert(name.to_lowercase());
        names.push(name);
    }
    names
}

/// A title with Excel's forbidden sheet-name characters and control characters turned into spaces, runs of white
/// space collapsed, and no apostrophe or space at either end.
fn clean_sheet_name(title: &str) -> String {
    let spaced: String = title
        .chars()
        .map(|c| if matches!(c, '[' | ']' | ':' | '*' | '?' | '/' | '\\') || c.is_control() { ' ' } else { c })
        .collect();
    spaced
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .trim_matches(|c: char| c == '\'' || c.is_whitespace())
        .to_owned()
}

/// The longest prefix of at most `max` UTF-16 units that does not split a letter from its combining marks, with
/// no apostrophe or space left at its end.
fn truncate_utf16(text: &str, max: usize) -> String {
    let mut units = 0;
    let mut end = 0;
    for (i, c) in text.char_indices() {
        if units + c.len_utf16() > max {
            break;
        }
        units += c.len_utf16();
        end = i + c.len_utf8();
    }
    let mut cut = &text[..end];
    if end < text.len() {
        while let Some(last) = cut.chars().last().filter(|_| text[cut.len()..].starts_with(is_combining)) {
            cut = &cut[..cut.len() - last.len_utf8()];
        }
    }
    cut.trim_end_matches(|c: char| c == '\'' || c.is_whitespace()).to_owned()
}

/// The report as one CSV file: UTF-8 with a byte order mark, RFC 4180 quoting, CRLF line ends. A line with the
/// report's title, commune, period and generation time, then per table a blank line, its title, its heading, its
/// rows and its total row. Counts are plain digits and suppressed cells "<5". A text that a spreadsheet would take
/// for a formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading apostrophe.
pub fn csv(report: &Report) -> Vec<u8> {
    let mut out = String::from("\u{FEFF}");
    csv_line(&mut out, report_fields(report).into_iter().map(text_field));
    for table in &report.tables {
        out.push_str("\r\n");
        csv_line(&mut out, [text_field(&table.title)]);
        csv_line(&mut out, [&table.row_heading].into_iter().chain(&table.columns).map(|h| text_field(h)));
        for row in table.rows.iter().chain(&table.totals) {
            let cells = row.cells.iter().map(|cell| match cell {
                Cell::Count(n) => n.to_string(),
                Cell::Suppressed => SUPPRESSED_TEXT.to_owned(),
                Cell::Text(text) => text_field(text),
            });
            csv_line(&mut out, [text_field(&row.label)].into_iter().chain(cells));
        }
    }
    out.into_bytes()
}

fn csv_line(out: &mut String, fields: impl IntoIterator<Item = String>) {
    for (n, field) in fields.into_iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        if field.contains([',', '"', '\r', '\n']) {
            out.push('"');
            out.push_str(&field.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&field);
        }
    }
    out.push_str("\r\n");
}

/// A text as a CSV field, defused if a spreadsheet would run it as a formula.
fn text_field(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};
    use std::io::Cursor;

    const LABEL: &str = "Thôn \"Đồng Tâm\", xóm 2";

    fn report() -> Report {
        let mut first =
            Table::new("activities_by_type", "Hoạt động theo loại", "Thôn", ["Truyền thông", "Tư vấn", "Tổng"]);
        first.rows = vec![
            Row::counts(LABEL, [1234, 7, 1241]),
            Row::new("Thôn Hạ", vec![Cell::Count(12), Cell::Suppressed, Cell::Suppressed]),
        ];
        first.totals = Some(Row::counts("Tổng", [1246, 10, 1256]));
        let mut second =
            Table::new("gbv_by_village", "Vụ việc bạo lực giới: theo thôn/xóm [quý 1] rất dài", "Thôn", ["Số vụ"]);
        second.rows = vec![Row::counts("Thôn Thượng", [9]), Row::new("Thôn Hạ", vec![Cell::Text("—".into())])];
        second.totals = Some(Row::counts("Tổng", [9]));
        Report {
            title: "Báo cáo hoạt động".into(),
            commune: "Tân Yên".into(),
            period: "Quý 1/2026".into(),
            generated_at: "2026-04-01 08:00".into(),
            tables: vec![first, second],
        }
    }

    fn string(s: &str) -> Data {
        Data::String(s.to_owned())
    }

    #[test]
    fn xlsx_reads_back() {
        let bytes = xlsx(&report()).unwrap();
        let mut book: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes)).unwrap();
        let names = book.sheet_names();
        assert_eq!(names, ["Hoạt động theo loại", "Vụ việc bạo lực giới theo thôn"]);
        assert!(names.iter().all(|n| n.encode_utf16().count() <= 31));

        let sheet = book.worksheet_range(&names[0]).unwrap();
        assert_eq!(sheet.get((0, 0)), Some(&string("Báo cáo hoạt động · Tân Yên · Quý 1/2026 · 2026-04-01 08:00")));
        assert_eq!(sheet.get((1, 0)), Some(&string("Hoạt động theo loại")));
        let heading: Vec<&Data> = (0..4).filter_map(|c| sheet.get((2, c))).collect();
        assert_eq!(heading, [&string("Thôn"), &string("Truyền thông"), &string("Tư vấn"), &string("Tổng")]);
        assert_eq!(sheet.get((3, 0)), Some(&string(LABEL)));
        assert_eq!(sheet.get((3, 1)), Some(&Data::Float(1234.0)));
        assert_eq!(sheet.get((4, 2)), Some(&string("<5")));
        assert_eq!(sheet.get((5, 0)), Some(&string("Tổng")));
        assert_eq!(sheet.get((5, 3)), Some(&Data::Float(1256.0)));

        let sheet = book.worksheet_range(&names[1]).unwrap();
        assert_eq!(sheet.get((2, 1)), Some(&string("Số vụ")));
        assert_eq!(sheet.get((3, 1)), Some(&Data::Float(9.0)));
        assert_eq!(sheet.get((4, 1)), Some(&string("—")));
    }

    #[test]
    fn sheet_names_are_valid_and_unique() {
        let mut report = report();
        let long = "Bảng rất dài: số người được hỗ trợ theo thôn và loại";
        for title in [long, long, "History", "'*?'", "Hoạt động theo loại", "hoạt động theo loại"] {
            report.tables.push(Table::new("key", title, "h", ["c"]));
        }
        let names = sheet_names(&report);
        let lower: HashSet<String> = names.iter().map(|n| n.to_lowercase()).collect();
        assert_eq!(lower.len(), names.len());
        for name in &names {
            assert!(!name.is_empty() && name.encode_utf16().count() <= SHEET_NAME_MAX, "{name}");
            assert!(!name.contains(['[', ']', ':', '*', '?', '/', '\\']) && !name.starts_with('\''), "{name}");
        }
        assert_eq!(
            &names[2..],
            [
                "Bảng rất dài số người được hỗ t",
                "Bảng rất dài số người được (2)",
                "History (2)",
                "key",
                "Hoạt động theo loại (2)",
                "hoạt động theo loại (3)"
            ]
        );
        // Decomposed marks stay with their letter.
        assert_eq!(truncate_utf16("Vie\u{302}\u{323}t", 3), "Vi");
        xlsx(&report).unwrap();
    }

    /// An RFC 4180 reader for the test: records of fields.
    fn parse_csv(text: &str) -> Vec<Vec<String>> {
        let (mut records, mut record, mut field) = (Vec::new(), Vec::new(), String::new());
        let mut chars = text.chars().peekable();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match (quoted, c) {
                (true, '"') if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                (true, '"') => quoted = false,
                (true, c) => field.push(c),
                (false, '"') => quoted = true,
                (false, ',') => record.push(std::mem::take(&mut field)),
                (false, '\r') => {
                    assert_eq!(chars.next(), Some('\n'), "a CR not followed by LF");
                    record.push(std::mem::take(&mut field));
                    records.push(std::mem::take(&mut record));
                }
                (false, '\n') => panic!("a bare LF"),
                (false, c) => field.push(c),
            }
        }
        assert!(field.is_empty() && record.is_empty(), "the last line has no CRLF");
        records
    }

    #[test]
    fn csv_for_excel() {
        let bytes = csv(&report());
        assert!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]));
        let text = std::str::from_utf8(&bytes[3..]).unwrap();
        assert!(text.ends_with("\r\n"));
        assert!(text.contains("\"Thôn \"\"Đồng Tâm\"\", xóm 2\",1234,7,1241\r\n"));
        let records = parse_csv(text);
        let expected: Vec<Vec<&str>> = vec![
            vec!["Báo cáo hoạt động", "Tân Yên", "Quý 1/2026", "2026-04-01 08:00"],
            vec![""],
            vec!["Hoạt động theo loại"],
            vec!["Thôn", "Truyền thông", "Tư vấn", "Tổng"],
            vec![LABEL, "1234", "7", "1241"],
            vec!["Thôn Hạ", "12", "<5", "<5"],
            vec!["Tổng", "1246", "10", "1256"],
            vec![""],
            vec!["Vụ việc bạo lực giới: theo thôn/xóm [quý 1] rất dài"],
            vec!["Thôn", "Số vụ"],
            vec!["Thôn Thượng", "9"],
            vec!["Thôn Hạ", "—"],
            vec!["Tổng", "9"],
        ];
        assert_eq!(records, expected);
        let first = &report().tables[0];
        for (record, row) in records[4..7].iter().zip(first.rows.iter().chain(&first.totals)) {
            let numbers: Vec<Option<u64>> = record[1..].iter().map(|f| f.parse().ok()).collect();
            assert_eq!(numbers, row.cells.iter().map(Cell::count).collect::<Vec<_>>());
        }
    }

    #[test]
    fn csv_defuses_formulas() {
        let mut report = report();
        report.tables[1].rows[0].label = "=HYPERLINK(\"x\")".into();
        let text = String::from_utf8(csv(&report)).unwrap();
        assert!(text.contains("\r\n\"'=HYPERLINK(\"\"x\"\")\",9\r\n"));
    }
}
