//! Small-cell suppression for the GBV tables: which counts (and, only when nothing else protects them, which
//! totals) must be shown as "<5" so that no count from 1 to 4 can be read or worked out from a published table.
//!
//! A table of counts is published with its row totals, column totals and grand total. Together they form a flow
//! network: a source `s` feeds each row node through its row total, row `i` feeds column `j` through cell
//! `(i, j)`, each column node drains into a sink `t` through its column total, and the grand total closes the
//! circuit from `t` back to `s`. Every table consistent with what is published is a non-negative integer
//! circulation that agrees with the published values, so a suppressed value is determined exactly if and only if
//! no cycle of suppressed values can move it: it can rise by one when a path leads from its head back to its tail
//! through suppressed values (forwards freely, backwards only through values above zero), and fall by one when a
//! path leads the other way and the value itself is above zero.
//!
//! The rules:
//! - primary: every count from 1 to 4, total or cell, is suppressed;
//! - complementary: every suppressed value is then protected by a cycle of suppressed values found as a cheapest
//!   path, where an already suppressed value costs nothing, a non-zero cell costs its value (the smallest non-zero
//!   cells are preferred), a zero cell costs more than all non-zero cells together (it can only be raised, never
//!   lowered, so it protects in one direction only), and a total costs more than any path without one, so totals
//!   are suppressed only when the cells alone cannot protect a value (a 1×1 table, or a small total);
//! - a primary count is protected in both directions (the reader cannot tell that it is the least or the greatest
//!   value it could be) whenever that is possible without suppressing a further total.
//!
//! In a table of one column the row totals are the cells themselves, and in a table of one row the column totals
//! are; they are then suppressed exactly when their cell is, and the grand total with the single total.

use super::table::{Cell, Table};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// Counts below this and above zero are small and never published.
pub const THRESHOLD: u64 = 5;

/// Whether a count is small: from 1 to `THRESHOLD - 1`.
pub fn is_small(count: u64) -> bool {
    (1..THRESHOLD).contains(&count)
}

/// Which values of a table of counts are withheld.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Suppression {
    /// Per cell, shaped like the input counts: whether it is suppressed.
    pub cells: Vec<Vec<bool>>,
    /// Per row: whether its total is suppressed.
    pub row_totals: Vec<bool>,
    /// Per column (as many as the widest row): whether its total is suppressed.
    pub column_totals: Vec<bool>,
    /// Whether the grand total is suppressed.
    pub grand_total: bool,
}

impl Suppression {
    /// Whether anything at all is suppressed.
    pub fn any(&self) -> bool {
        self.grand_total
            || self.row_totals.iter().chain(&self.column_totals).any(|&s| s)
            || self.cells.iter().flatten().any(|&s| s)
    }

    /// Whether any total (row, column or grand) is suppressed.
    pub fn any_total(&self) -> bool {
        self.grand_total || self.row_totals.iter().chain(&self.column_totals).any(|&s| s)
    }
}

/// Why a table could not be suppressed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SuppressError {
    /// A row has a different number of cells than the table has columns.
    #[error("row {row:?} has {found} cells but the table has {expected} columns")]
    Shape {
        /// The row's label.
        row: String,
        /// The number of columns.
        expected: usize,
        /// The number of cells in the row.
        found: usize,
    },
    /// A cell that should hold a count holds text or is already suppressed.
    #[error("row {row:?}, column {column}: not a count")]
    NotCount {
        /// The row's label.
        row: String,
        /// The cell's column index.
        column: usize,
    },
    /// A total is not the sum of what it totals, so the table is not additive and suppression cannot protect it.
    #[error("row {row:?}, column {column}: the total {found} is not the sum {expected}")]
    Total {
        /// The row's label.
        row: String,
        /// The total's column index.
        column: usize,
        /// The sum of the cells.
        expected: u64,
        /// The total found in the table.
        found: u64,
    },
}

/// Chooses the suppressed cells and totals of a table of counts published with its row, column and grand totals.
///
/// Rows shorter than the widest are padded with zeros that everyone knows are zero (they are never suppressed
/// and not part of `cells`).
pub fn suppress(counts: &[Vec<u64>]) -> Suppression {
    let rows = counts.len();
    let columns = counts.iter().map(Vec::len).max().unwrap_or(0);
    let mut result = Suppression {
        cells: counts.iter().map(|row| vec![false; row.len()]).collect(),
        row_totals: vec![false; rows],
        column_totals: vec![false; columns],
        grand_total: false,
    };
    if rows == 0 || columns == 0 {
        return result;
    }
    let mut network = Network::new(counts, columns);
    network.protect();
    for (i, row) in result.cells.iter_mut().enumerate() {
        for (j, cell) in row.iter_mut().enumerate() {
            *cell = network.unknown[network.cell(i, j)];
        }
    }
    for i in 0..rows {
        result.row_totals[i] = if columns == 1 { result.cells[i][0] } else { network.unknown[network.row_total(i)] };
    }
    for j in 0..columns {
        result.column_totals[j] = if rows == 1 {
            result.cells[0].get(j).copied().unwrap_or(false)
        } else {
            network.unknown[network.column_total(j)]
        };
    }
    result.grand_total = if rows == 1 {
        result.row_totals[0]
    } else if columns == 1 {
        result.column_totals[0]
    } else {
        network.unknown[network.grand_total()]
    };
    result
}

/// Suppresses a table of counts in place and returns what was suppressed.
///
/// Every data cell must be a [`Cell::Count`] and every row must have one cell per column. When
/// `last_column_is_total` is set, the last column holds each row's total (and the total row's last cell the grand
/// total); the total row, if any, holds the column totals. Totals present in the table must be the sums of what
/// they total. Totals not published in the table are assumed published anyway, which only errs on the safe side.
pub fn suppress_table(table: &mut Table, last_column_is_total: bool) -> Result<Suppression, SuppressError> {
    let width = table.columns.len();
    let data_width = if last_column_is_total { width.saturating_sub(1) } else { width };
    let mut counts = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        counts.push(row_counts(row.label.as_str(), &row.cells, width)?[..data_width].to_vec());
    }
    let sums: Vec<u64> = counts.iter().map(|row| row.iter().sum()).collect();
    if last_column_is_total && width > 0 {
        for (row, &sum) in table.rows.iter().zip(&sums) {
            check_total(&row.label, width - 1, sum, &row.cells)?;
        }
    }
    if let Some(totals) = &table.totals {
        row_counts(&totals.label, &totals.cells, width)?;
        for j in 0..data_width {
            let expected = counts.iter().map(|row| row[j]).sum();
            check_total(&totals.label, j, expected, &totals.cells)?;
        }
        if last_column_is_total && width > 0 {
            check_total(&totals.label, width - 1, sums.iter().sum(), &totals.cells)?;
        }
    }
    let suppression = suppress(&counts);
    for (i, row) in table.rows.iter_mut().enumerate() {
        for (j, cell) in row.cells.iter_mut().enumerate() {
            let hidden = if j < data_width { suppression.cells[i][j] } else { suppression.row_totals[i] };
            if hidden {
                *cell = Cell::Suppressed;
            }
        }
    }
    if let Some(totals) = &mut table.totals {
        for (j, cell) in totals.cells.iter_mut().enumerate() {
            let hidden = if j < data_width { suppression.column_totals[j] } else { suppression.grand_total };
            if hidden {
                *cell = Cell::Suppressed;
            }
        }
    }
    Ok(suppression)
}

fn row_counts(label: &str, cells: &[Cell], width: usize) -> Result<Vec<u64>, SuppressError> {
    if cells.len() != width {
        return Err(SuppressError::Shape { row: label.to_owned(), expected: width, found: cells.len() });
    }
    cells
        .iter()
        .enumerate()
        .map(|(column, cell)| cell.count().ok_or_else(|| SuppressError::NotCount { row: label.to_owned(), column }))
        .collect()
}

fn check_total(label: &str, column: usize, expected: u64, cells: &[Cell]) -> Result<(), SuppressError> {
    let found = cells[column].count().unwrap_or(0);
    if found == expected {
        Ok(())
    } else {
        Err(SuppressError::Total { row: label.to_owned(), column, expected, found })
    }
}

/// One value of the table as an arc of the flow network.
#[derive(Debug, Clone, Copy)]
struct Arc {
    from: usize,
    to: usize,
    value: u64,
    /// What suppressing this value costs while it is published; `None` if it can never be suppressed (a padding
    /// zero) and for aliases.
    cost: Option<u128>,
    /// A value that is the same number as another one (a row total of a one-column table, ...): never published
    /// on its own, so always unknown, free, and neither primary nor in need of its own protection.
    alias: bool,
    /// A real total (not an alias).
    total: bool,
}

/// The table as a flow network: nodes `s`, the rows, the columns, `t`; arcs: the cells (row-major), then the row
/// totals, the column totals and the grand total.
struct Network {
    rows: usize,
    columns: usize,
    arcs: Vec<Arc>,
    /// Per node: (arc, other end, whether the arc leaves this node).
    adjacent: Vec<Vec<(usize, usize, bool)>>,
    /// Per arc: whether the reader does not know it (suppressed, or an alias).
    unknown: Vec<bool>,
    /// Per arc: whether it is a small count.
    primary: Vec<bool>,
}

impl Network {
    fn new(counts: &[Vec<u64>], columns: usize) -> Self {
        let rows = counts.len();
        let (source, sink) = (0, rows + columns + 1);
        let value = |i: usize, j: usize| counts[i].get(j).copied().unwrap_or(0);
        let row_sums: Vec<u64> = (0..rows).map(|i| (0..columns).map(|j| value(i, j)).sum()).collect();
        let column_sums: Vec<u64> = (0..columns).map(|j| (0..rows).map(|i| value(i, j)).sum()).collect();
        let grand: u64 = row_sums.iter().sum();
        // Any path of non-zero cells costs less than one zero cell, any path without a total less than one with.
        let zero_cost = u128::from(grand) + 1;
        let arc_count = rows * columns + rows + columns + 1;
        let total_cost = zero_cost * (arc_count as u128 + 1);
        let cell_cost = |v: u64| if v == 0 { zero_cost } else { u128::from(v) };
        let mut arcs = Vec::with_capacity(arc_count);
        for (i, row) in counts.iter().enumerate() {
            for j in 0..columns {
                let cost = (j < row.len()).then(|| cell_cost(value(i, j)));
                arcs.push(Arc { from: 1 + i, to: 1 + rows + j, value: value(i, j), cost, alias: false, total: false });
            }
        }
        let total = |from: usize, to: usize, value: u64, alias: bool| Arc {
            from,
            to,
            value,
            cost: (!alias).then_some(total_cost + u128::from(value)),
            alias,
            total: !alias,
        };
        for (i, &sum) in row_sums.iter().enumerate() {
            arcs.push(total(source, 1 + i, sum, columns == 1));
        }
        for (j, &sum) in column_sums.iter().enumerate() {
            arcs.push(total(1 + rows + j, sink, sum, rows == 1));
        }
        arcs.push(total(sink, source, grand, rows == 1 || columns == 1));
        let mut adjacent = vec![Vec::new(); sink + 1];
        for (a, arc) in arcs.iter().enumerate() {
            adjacent[arc.from].push((a, arc.to, true));
            adjacent[arc.to].push((a, arc.from, false));
        }
        let primary: Vec<bool> =
            arcs.iter().map(|arc| !arc.alias && arc.cost.is_some() && is_small(arc.value)).collect();
        let unknown = arcs.iter().zip(&primary).map(|(arc, &p)| arc.alias || p).collect();
        Network { rows, columns, arcs, adjacent, unknown, primary }
    }

    fn cell(&self, i: usize, j: usize) -> usize {
        i * self.columns + j
    }

    fn row_total(&self, i: usize) -> usize {
        self.rows * self.columns + i
    }

    fn column_total(&self, j: usize) -> usize {
        self.rows * self.columns + self.rows + j
    }

    fn grand_total(&self) -> usize {
        self.rows * self.columns + self.rows + self.columns
    }

    /// Suppresses complements until every suppressed value is protected. Totals go first: a small total needs
    /// another total to protect it, and the cycle through both often protects the small cells too.
    fn protect(&mut self) {
        let cells = self.rows * self.columns;
        let order: Vec<usize> = (cells..self.arcs.len()).chain(0..cells).collect();
        loop {
            let mut changed = false;
            for &a in &order {
                if !self.unknown[a] || self.arcs[a].alias {
                    continue;
                }
                let up = self.can_move(a, true);
                let down = self.can_move(a, false);
                if !up && !down {
                    let cycle = [true, false]
                        .into_iter()
                        .filter_map(|rise| self.cheapest_cycle(a, rise, true))
                        .min_by_key(|(cost, _)| *cost);
                    // A rise is always possible through the totals, so there is always a cycle.
                    if let Some((_, arcs)) = cycle {
                        changed |= self.hide(&arcs);
                    }
                } else if self.primary[a]
                    && !(up && down)
                    && let Some((_, arcs)) = self.cheapest_cycle(a, !up, false)
                {
                    changed |= self.hide(&arcs);
                }
            }
            if !changed {
                break;
            }
        }
    }

    fn hide(&mut self, arcs: &[usize]) -> bool {
        let mut changed = false;
        for &a in arcs {
            changed |= !self.unknown[a];
            self.unknown[a] = true;
        }
        changed
    }

    /// The ends of the path that moves arc `a` up (`rise`) or down: from its head back to its tail, or the reverse.
    fn ends(&self, a: usize, rise: bool) -> (usize, usize) {
        let arc = self.arcs[a];
        if rise { (arc.to, arc.from) } else { (arc.from, arc.to) }
    }

    /// Whether the reader's knowledge lets arc `a` rise (or fall) by one: a path through unknown values only.
    fn can_move(&self, a: usize, rise: bool) -> bool {
        if !rise && self.arcs[a].value == 0 {
            return false;
        }
        let (start, goal) = self.ends(a, rise);
        let mut seen = vec![false; self.adjacent.len()];
        let mut queue = VecDeque::from([start]);
        seen[start] = true;
        while let Some(node) = queue.pop_front() {
            if node == goal {
                return true;
            }
            for &(b, next, leaves) in &self.adjacent[node] {
                if b != a && self.unknown[b] && (leaves || self.arcs[b].value > 0) && !seen[next] {
                    seen[next] = true;
                    queue.push_back(next);
                }
            }
        }
        false
    }

    /// The cheapest cycle that moves arc `a` up or down, with its cost and arcs (`a` included), through known
    /// values too at their cost; with `allow_totals` false, through no published total.
    fn cheapest_cycle(&self, a: usize, rise: bool, allow_totals: bool) -> Option<(u128, Vec<usize>)> {
        if !rise && self.arcs[a].value == 0 {
            return None;
        }
        let (start, goal) = self.ends(a, rise);
        let mut best = vec![u128::MAX; self.adjacent.len()];
        let mut via = vec![usize::MAX; self.adjacent.len()];
        let mut heap = BinaryHeap::from([Reverse((0u128, start))]);
        best[start] = 0;
        while let Some(Reverse((cost, node))) = heap.pop() {
            if cost > best[node] {
                continue;
            }
            if node == goal {
                let mut arcs = vec![a];
                let mut at = goal;
                while at != start {
                    let b = via[at];
                    arcs.push(b);
                    at = if self.arcs[b].to == at { self.arcs[b].from } else { self.arcs[b].to };
                }
                return Some((cost, arcs));
            }
            for &(b, next, leaves) in &self.adjacent[node] {
                let arc = &self.arcs[b];
                if b == a || !(leaves || arc.value > 0) {
                    continue;
                }
                let step = if self.unknown[b] {
                    0
                } else if arc.total && !allow_totals {
                    continue;
                } else {
                    match arc.cost {
                        Some(cost) => cost,
                        None => continue,
                    }
                };
                let next_cost = cost + step;
                if next_cost < best[next] {
                    best[next] = next_cost;
                    via[next] = b;
                    heap.push(Reverse((next_cost, next)));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::table::{Row, Table};
    use super::*;
    use proptest::prelude::*;

    /// The values of the table with its totals as a grid of `rows + 1` by `columns + 1`: the row totals in the
    /// last column, the column totals in the last row, the grand total in the corner.
    fn grid(counts: &[Vec<u64>]) -> Vec<Vec<u64>> {
        let columns = counts[0].len();
        let mut grid: Vec<Vec<u64>> =
            counts.iter().map(|row| row.iter().copied().chain([row.iter().sum()]).collect()).collect();
        grid.push((0..=columns).map(|j| grid.iter().map(|row| row[j]).sum()).collect());
        grid
    }

    fn hidden_grid(s: &Suppression) -> Vec<Vec<bool>> {
        let mut grid: Vec<Vec<bool>> =
            s.cells.iter().zip(&s.row_totals).map(|(row, &t)| row.iter().copied().chain([t]).collect()).collect();
        grid.push(s.column_totals.iter().copied().chain([s.grand_total]).collect());
        grid
    }

    /// Whether some non-negative integer table agrees with everything published (the grid's values where `hidden`
    /// is false, and the additivity of every row and column of the grid) and has `target` at `value`.
    ///
    /// It searches only tables within one of the true values: if any consistent table differs at `target`, the
    /// difference splits into cycles that each keep the published values, and a unit step along the cycle through
    /// `target` gives such a table.
    fn another_table(values: &[Vec<u64>], hidden: &[Vec<bool>], target: (usize, usize), value: u64) -> bool {
        let (height, width) = (values.len(), values[0].len());
        let mut vars = Vec::new();
        let mut index = vec![vec![usize::MAX; width]; height];
        for i in 0..height {
            for j in 0..width {
                if hidden[i][j] {
                    index[i][j] = vars.len();
                    vars.push((i, j));
                }
            }
        }
        let mut domains: Vec<(i64, i64)> = vars
            .iter()
            .map(|&(i, j)| {
                let v = values[i][j] as i64;
                if (i, j) == target { (value as i64, value as i64) } else { ((v - 1).max(0), v + 1) }
            })
            .collect();
        // Each line of the grid: its cells minus its total is zero; known values fold into the constant.
        let mut equations: Vec<(Vec<(usize, i64)>, i64)> = Vec::new();
        let lines = (0..height)
            .map(|i| (0..width).map(|j| (i, j)).collect::<Vec<_>>())
            .chain((0..width).map(|j| (0..height).map(|i| (i, j)).collect()));
        for line in lines {
            let (mut terms, mut constant) = (Vec::new(), 0i64);
            let last = line.len() - 1;
            for (n, &(i, j)) in line.iter().enumerate() {
                let sign = if n == last { -1 } else { 1 };
                if hidden[i][j] {
                    terms.push((index[i][j], sign));
                } else {
                    constant += sign * values[i][j] as i64;
                }
            }
            equations.push((terms, constant));
        }
        solve(&mut domains, &equations)
    }

    /// Depth-first search with bounds propagation over small integer domains.
    fn solve(domains: &mut [(i64, i64)], equations: &[(Vec<(usize, i64)>, i64)]) -> bool {
        loop {
            let mut tightened = false;
            for (terms, constant) in equations {
                let (mut low, mut high) = (*constant, *constant);
                for &(v, c) in terms {
                    let (a, b) = domains[v];
                    if c > 0 {
                        (low, high) = (low + a, high + b);
                    } else {
                        (low, high) = (low - b, high - a);
                    }
                }
                if low > 0 || high < 0 {
                    return false;
                }
                for &(v, c) in terms {
                    let (a, b) = domains[v];
                    // The rest of the line ranges over [low - c·x, high - c·x]; c·x must bring it to zero.
                    let (rest_low, rest_high) = if c > 0 { (low - a, high - b) } else { (low + b, high + a) };
                    let (x_low, x_high) = if c > 0 { (-rest_high, -rest_low) } else { (rest_low, rest_high) };
                    let new = (a.max(x_low), b.min(x_high));
                    if new.0 > new.1 {
                        return false;
                    }
                    if new != (a, b) {
                        domains[v] = new;
                        tightened = true;
                    }
                }
            }
            if !tightened {
                break;
            }
        }
        let Some(v) = (0..domains.len()).find(|&v| domains[v].0 < domains[v].1) else {
            return true;
        };
        let (a, b) = domains[v];
        (a..=b).any(|x| {
            let mut trial = domains.to_vec();
            trial[v] = (x, x);
            solve(&mut trial, equations)
        })
    }

    /// What is wrong with a suppression of a rectangular table: a small value published, or a suppressed value
    /// that the published ones determine.
    fn problem(counts: &[Vec<u64>], s: &Suppression) -> Option<String> {
        let values = grid(counts);
        let hidden = hidden_grid(s);
        for (i, row) in values.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                if is_small(v) && !hidden[i][j] {
                    return Some(format!("small value {v} at {i},{j} published"));
                }
                let moved = || {
                    [v + 1, v.wrapping_sub(1)]
                        .into_iter()
                        .filter(|&w| w != u64::MAX)
                        .any(|w| another_table(&values, &hidden, (i, j), w))
                };
                if hidden[i][j] && !moved() {
                    return Some(format!("value {v} at {i},{j} is determined"));
                }
            }
        }
        None
    }

    /// Suppresses a rectangular table and checks the rules; returns the suppression.
    fn check(counts: &[Vec<u64>]) -> Suppression {
        let s = suppress(counts);
        if let Some(problem) = problem(counts, &s) {
            panic!("{problem}: {counts:?} {s:?}");
        }
        s
    }

    #[test]
    fn the_check_sees_disclosure() {
        let hide = |cells: Vec<Vec<bool>>, row_totals: Vec<bool>, column_totals: Vec<bool>| Suppression {
            cells,
            row_totals,
            column_totals,
            grand_total: false,
        };
        // 3 and 0 hidden in a row with a published total of 3.
        let s = hide(vec![vec![true, true], vec![false, false]], vec![false; 2], vec![true, false]);
        assert!(problem(&[vec![3, 0], vec![6, 6]], &s).unwrap().contains("determined"));
        // Three hidden cells: the 5 is the only hidden one in its row.
        let s = hide(vec![vec![true, true], vec![true, false]], vec![false; 2], vec![false; 2]);
        assert!(problem(&[vec![3, 7], vec![5, 9]], &s).unwrap().contains("determined"));
        // A rectangle whose only way to move goes through a zero: 3 can rise (the zero rises too) — not determined.
        let s = hide(vec![vec![true, true], vec![true, true]], vec![false; 2], vec![false; 2]);
        assert_eq!(problem(&[vec![3, 5], vec![6, 0]], &s), None);
        // A small total left published.
        let s = hide(vec![vec![true, true], vec![true, true]], vec![false; 2], vec![false; 2]);
        assert!(problem(&[vec![3, 1], vec![6, 7]], &s).unwrap().contains("published"));
    }

    fn table_strategy() -> impl Strategy<Value = Vec<Vec<u64>>> {
        (1usize..=6, 1usize..=5).prop_flat_map(|(rows, columns)| {
            let count = prop_oneof![4 => 0u64..=6, 1 => 0u64..=60];
            proptest::collection::vec(proptest::collection::vec(count, columns), rows)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn no_small_value_is_published_or_determined(counts in table_strategy()) {
            check(&counts);
        }
    }

    #[test]
    fn nothing_small_nothing_hidden() {
        let s = check(&[vec![5, 0, 12], vec![0, 7, 9]]);
        assert!(!s.any());
    }

    #[test]
    fn small_cell_gets_a_rectangle_of_non_zero_complements() {
        let s = check(&[vec![3, 0, 7], vec![5, 20, 2], vec![9, 9, 30]]);
        assert_eq!(s.cells, [vec![true, false, true], vec![true, false, true], vec![false, false, false]]);
        assert!(!s.any_total());
    }

    #[test]
    fn zero_does_not_protect_in_a_list() {
        // One column: 3 and 0 would give 3 away through the total; the 6 is the smallest non-zero complement.
        let s = check(&[vec![3], vec![0], vec![6], vec![40]]);
        assert_eq!(s.cells, [vec![true], vec![false], vec![true], vec![false]]);
        assert_eq!(s.row_totals, [true, false, true, false]);
        assert!(!s.column_totals[0] && !s.grand_total);
    }

    #[test]
    fn one_row_list() {
        let s = check(&[vec![12, 2, 0, 8]]);
        assert_eq!(s.cells, [vec![false, true, false, true]]);
        assert_eq!(s.column_totals, [false, true, false, true]);
        assert!(!s.row_totals[0] && !s.grand_total);
    }

    #[test]
    fn lone_small_value_takes_its_totals() {
        let s = check(&[vec![3]]);
        assert!(s.cells[0][0] && s.row_totals[0] && s.column_totals[0] && s.grand_total);
        let s = check(&[vec![3], vec![0]]);
        assert!(s.cells[0][0] && s.grand_total);
        // A small row total is suppressed and protected by another row total.
        let s = check(&[vec![3, 0], vec![10, 20], vec![6, 7]]);
        assert!(s.row_totals[0]);
    }

    #[test]
    fn table_in_place() {
        let mut table = Table::new("gbv_by_village", "Vụ việc theo thôn", "Thôn", ["Bạo lực thể chất", "Khác"]);
        table.push_counts("Thôn 1", [3, 8]);
        table.push_counts("Thôn 2", [6, 9]);
        table.push_counts("Thôn 3", [20, 11]);
        table.add_row_totals("Tổng");
        table.add_totals("Tổng");
        let s = suppress_table(&mut table, true).unwrap();
        assert_eq!(s.cells, [vec![true, true], vec![true, true], vec![false, false]]);
        assert_eq!(table.rows[0].cells, [Cell::Suppressed, Cell::Suppressed, Cell::Count(11)]);
        assert_eq!(table.rows[2].cells, [Cell::Count(20), Cell::Count(11), Cell::Count(31)]);
        assert_eq!(table.totals, Some(Row::counts("Tổng", [29, 28, 57])));

        table.rows[2].cells[2] = Cell::Count(30);
        assert!(matches!(suppress_table(&mut table, true), Err(SuppressError::NotCount { .. })));
        let mut bad = Table::new("k", "t", "h", ["a"]);
        bad.push_counts("x", [1]);
        bad.totals = Some(Row::counts("Tổng", [2]));
        assert!(matches!(suppress_table(&mut bad, false), Err(SuppressError::Total { .. })));
    }
}
