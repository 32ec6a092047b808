//! A measured figure, its SPEC §8 target and raw limit, and how figures are printed.

use serde::Serialize;

/// Which way a target points.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    /// The value must be at least the target.
    AtLeast,
    /// The value must be at most the target.
    AtMost,
}

/// One line of output.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// What was measured.
    pub name: String,
    /// The measurement.
    pub value: f64,
    /// Its unit.
    pub unit: &'static str,
    /// The SPEC §8 target, if any.
    pub target: Option<f64>,
    /// Which way the target points.
    pub goal: Option<Goal>,
    /// The raw limit measured in the same run, if any.
    pub limit: Option<f64>,
    /// value / limit.
    pub ratio: Option<f64>,
    /// Whether the target is met (None when there is no target).
    pub pass: Option<bool>,
}

impl Figure {
    /// A figure with no target.
    pub fn info(name: impl Into<String>, value: f64, unit: &'static str) -> Figure {
        Figure { name: name.into(), value, unit, target: None, goal: None, limit: None, ratio: None, pass: None }
    }

    /// A figure with a target.
    pub fn target(name: impl Into<String>, value: f64, unit: &'static str, goal: Goal, target: f64) -> Figure {
        let pass = match goal {
            Goal::AtLeast => value >= target,
            Goal::AtMost => value <= target,
        };
        Figure { target: Some(target), goal: Some(goal), pass: Some(pass), ..Figure::info(name, value, unit) }
    }

    /// Adds the raw limit and the ratio value / limit.
    pub fn with_limit(mut self, limit: f64) -> Figure {
        self.limit = Some(limit);
        self.ratio = (limit != 0.0).then(|| self.value / limit);
        self
    }
}

/// Prints figures as they come.
pub struct Printer {
    json: bool,
    printed_header: bool,
    /// Every figure printed, for the summary.
    pub all: Vec<Figure>,
}

impl Printer {
    /// A printer.
    pub fn new(json: bool) -> Printer {
        Printer { json, printed_header: false, all: Vec::new() }
    }

    /// Prints one figure.
    pub fn print(&mut self, f: Figure) {
        if self.json {
            println!("{}", serde_json::to_string(&f).expect("figures serialise"));
        } else {
            if !self.printed_header {
                println!(
                    "{:<58} {:>12} {:<9} {:>12} {:>12} {:>7} {:>5}",
                    "figure", "value", "unit", "target", "raw limit", "ratio", "pass"
                );
                self.printed_header = true;
            }
            let target = match (f.goal, f.target) {
                (Some(Goal::AtLeast), Some(t)) => format!("≥ {}", num(t)),
                (Some(Goal::AtMost), Some(t)) => format!("≤ {}", num(t)),
                _ => String::new(),
            };
            println!(
                "{:<58} {:>12} {:<9} {:>12} {:>12} {:>7} {:>5}",
                f.name,
                num(f.value),
                f.unit,
                target,
                f.limit.map(num).unwrap_or_default(),
                f.ratio.map(|r| format!("{r:.2}")).unwrap_or_default(),
                match f.pass {
                    Some(true) => "yes",
                    Some(false) => "NO",
                    None => "",
                }
            );
        }
        self.all.push(f);
    }
}

fn num(v: f64) -> String {
    if v.abs() >= 100.0 || v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.3}") }
}
