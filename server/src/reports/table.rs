//! The report data model — a report of titled tables of counts — shared by the JSON API, the HTML pages and the
//! exports, so that all of them show the same numbers and the same suppressed cells.

use serde::{Serialize, Serializer};
use std::fmt;

/// The text shown in place of a suppressed count.
pub const SUPPRESSED_TEXT: &str = "<5";

/// The usual label of a total row or a row-total column.
pub const TOTAL_LABEL: &str = "Tổng";

/// A report for one commune and one period: a list of tables.
#[derive(Serialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
pub struct Report {
    /// The report's title, e.g. "Báo cáo hoạt động".
    pub title: String,
    /// The commune's name.
    pub commune: String,
    /// The period covered, as shown to people, e.g. "Quý 1/2026".
    pub period: String,
    /// When the report was generated, as shown to people.
    pub generated_at: String,
    /// The report's tables, in display order.
    pub tables: Vec<Table>,
}

/// One table of a report: a heading row, labelled rows of cells and an optional total row.
#[derive(Serialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
#[schema(as = ReportTable)]
pub struct Table {
    /// A stable identifier, e.g. "activities_by_type", for the API and links.
    #[schema(example = "activities_by_type")]
    pub key: String,
    /// The table's title, as shown to people.
    pub title: String,
    /// The heading of the label column (the first column).
    pub row_heading: String,
    /// The headings of the value columns, one per cell of each row.
    pub columns: Vec<String>,
    /// The data rows.
    pub rows: Vec<Row>,
    /// The total row, if the table has one (its label is e.g. "Tổng").
    pub totals: Option<Row>,
}

/// A labelled row of cells.
#[derive(Serialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
#[schema(as = ReportRow)]
pub struct Row {
    /// The row's label, shown in the label column.
    pub label: String,
    /// The row's cells, one per column of the table.
    pub cells: Vec<Cell>,
}

/// One cell of a table. Serialized untagged: a count as a JSON number, a suppressed cell as the string "<5",
/// a text as a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// A published count.
    Count(u64),
    /// A count withheld by small-cell suppression, shown as "<5".
    Suppressed,
    /// Free text.
    Text(String),
}

impl Serialize for Cell {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Cell::Count(n) => serializer.serialize_u64(*n),
            Cell::Suppressed => serializer.serialize_str(SUPPRESSED_TEXT),
            Cell::Text(text) => serializer.serialize_str(text),
        }
    }
}

impl utoipa::PartialSchema for Cell {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)).description(Some("a count")))
            .item(
                ObjectBuilder::new().schema_type(Type::String).description(Some("\"<5\" (a suppressed count) or text")),
            )
            .description(Some(
                "One cell of a table: a count, \"<5\" for a count withheld by small-cell suppression, or text.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for Cell {
    fn name() -> std::borrow::Cow<'static, str> {
        "ReportCell".into()
    }
}

impl fmt::Display for Cell {
    /// Plain text: a count without separators, "<5" for a suppressed cell, a text as is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cell::Count(n) => write!(f, "{n}"),
            Cell::Suppressed => f.write_str(SUPPRESSED_TEXT),
            Cell::Text(text) => f.write_str(text),
        }
    }
}

impl From<u64> for Cell {
    fn from(n: u64) -> Self {
        Cell::Count(n)
    }
}

impl Cell {
    /// The count, if this is a published count.
    pub fn count(&self) -> Option<u64> {
        match self {
            Cell::Count(n) => Some(*n),
            _ => None,
        }
    }
}

impl Row {
    /// A row with the given label and cells.
    pub fn new(label: impl Into<String>, cells: Vec<Cell>) -> Self {
        Row { label: label.into(), cells }
    }

    /// A row of counts.
    pub fn counts(label: impl Into<String>, counts: impl IntoIterator<Item = u64>) -> Self {
        Row { label: label.into(), cells: counts.into_iter().map(Cell::Count).collect() }
    }

    /// The sum of the row's published counts (suppressed and text cells count as 0).
    pub fn sum(&self) -> u64 {
        self.cells.iter().filter_map(Cell::count).sum()
    }
}

impl Table {
    /// An empty table with the given key, title and headings.
    pub fn new(
        key: impl Into<String>,
        title: impl Into<String>,
        row_heading: impl Into<String>,
        columns: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Table {
            key: key.into(),
            title: title.into(),
            row_heading: row_heading.into(),
            columns: columns.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
            totals: None,
        }
    }

    /// Appends a row of counts.
    pub fn push_counts(&mut self, label: impl Into<String>, counts: impl IntoIterator<Item = u64>) {
        self.rows.push(Row::counts(label, counts));
    }

    /// The sum of each column's published counts over the data rows (suppressed and text cells count as 0),
    /// one per column of the widest of `columns` and the rows.
    pub fn column_totals(&self) -> Vec<u64> {
        let width = self.rows.iter().map(|row| row.cells.len()).chain([self.columns.len()]).max().unwrap_or(0);
        let mut totals = vec![0; width];
        for row in &self.rows {
            for (total, cell) in totals.iter_mut().zip(&row.cells) {
                *total += cell.count().unwrap_or(0);
            }
        }
        totals
    }

    /// Appends a row-total column with the given heading: each row's sum, and the sum of the total row if any.
    /// Call it before [`Table::add_totals`] so that the total row gets the grand total.
    pub fn add_row_totals(&mut self, heading: impl Into<String>) {
        self.columns.push(heading.into());
        for row in self.rows.iter_mut().chain(self.totals.as_mut()) {
            let sum = row.sum();
            row.cells.push(Cell::Count(sum));
        }
    }

    /// Sets the total row to the column totals of the data rows, with the given label (e.g. [`TOTAL_LABEL`]).
    pub fn add_totals(&mut self, label: impl Into<String>) {
        self.totals = Some(Row::counts(label, self.column_totals()));
    }

    /// Whether any cell, data or total, is suppressed.
    pub fn has_suppressed(&self) -> bool {
        self.rows.iter().chain(&self.totals).flat_map(|row| &row.cells).any(|cell| *cell == Cell::Suppressed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_serialize_untagged() {
        let row = Row::new("Thôn 1, \"A\"", vec![Cell::Count(7), Cell::Suppressed, Cell::Text("—".into())]);
        let json = serde_json::to_value(&row).unwrap();
        assert_eq!(json, serde_json::json!({ "label": "Thôn 1, \"A\"", "cells": [7, "<5", "—"] }));
    }

    #[test]
    fn totals_helpers() {
        let mut table = Table::new("k", "T", "Thôn", ["A", "B"]);
        table.push_counts("x", [1, 2]);
        table.push_counts("y", [3, 4]);
        table.add_row_totals(TOTAL_LABEL);
        table.add_totals(TOTAL_LABEL);
        assert_eq!(table.columns, ["A", "B", TOTAL_LABEL]);
        assert_eq!(table.rows[1].cells, [Cell::Count(3), Cell::Count(4), Cell::Count(7)]);
        assert_eq!(table.totals, Some(Row::counts(TOTAL_LABEL, [4, 6, 10])));
        assert_eq!(table.column_totals(), [4, 6, 10]);
        assert!(!table.has_suppressed());
    }
}
