//! Bar charts drawn on the server as SVG (no script, no external library): grouped bars of
//! participants by sex per village, and activities per month with the Action Month highlighted.
//! Each chart carries a title and a description for screen readers, and the page shows the same
//! numbers in a table.

use std::fmt::Write;

/// One group of bars: its label and one value per series.
#[derive(Debug)]
pub struct Group {
    /// The label under the group.
    pub label: String,
    /// One value per series.
    pub values: Vec<i64>,
    /// Drawn highlighted.
    pub highlight: bool,
}

/// A series: its name (for the legend) and its CSS class (its colour).
#[derive(Debug)]
pub struct Series {
    /// The name in the legend.
    pub name: String,
    /// The CSS class of its bars.
    pub class: &'static str,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A bar chart as an SVG element.
pub fn bars(title: &str, series: &[Series], groups: &[Group]) -> String {
    const W: f64 = 720.0;
    const H: f64 = 300.0;
    const LEFT: f64 = 48.0;
    const BOTTOM: f64 = 64.0;
    const TOP: f64 = 28.0;
    let max = groups.iter().flat_map(|g| g.values.iter().copied()).max().unwrap_or(0).max(1);
    let step = nice_step(max);
    let top_value = (max + step - 1) / step * step;
    let plot_h = H - BOTTOM - TOP;
    let y = |v: i64| TOP + plot_h - (v as f64 / top_value as f64) * plot_h;
    let mut out = String::new();
    let desc = groups
        .iter()
        .map(|g| {
            let values: Vec<String> = series.iter().zip(&g.values).map(|(s, v)| format!("{} {v}", s.name)).collect();
            format!("{}: {}", g.label, values.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ");
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-labelledby="t-{id}"><title id="t-{id}">{t}. {d}</title>"#,
        id = title.len() * 31 + groups.len(),
        t = escape(title),
        d = escape(&desc)
    );
    let mut v = 0;
    while v <= top_value {
        let _ = write!(
            out,
            r#"<line class="grid" x1="{LEFT}" x2="{W}" y1="{y:.1}" y2="{y:.1}"/><text class="axis" x="{x}" y="{ty:.1}" text-anchor="end">{v}</text>"#,
            y = y(v),
            x = LEFT - 6.0,
            ty = y(v) + 4.0
        );
        v += step;
    }
    let slot = (W - LEFT) / groups.len().max(1) as f64;
    let bar = (slot * 0.8 / series.len().max(1) as f64).min(28.0);
    for (i, g) in groups.iter().enumerate() {
        let x0 = LEFT + slot * i as f64 + (slot - bar * series.len() as f64) / 2.0;
        if g.highlight {
            let _ = write!(
                out,
                r#"<rect class="highlight" x="{x:.1}" y="{TOP}" width="{slot:.1}" height="{plot_h:.1}"/>"#,
                x = LEFT + slot * i as f64
            );
        }
        for (j, (s, value)) in series.iter().zip(&g.values).enumerate() {
            let top = y(*value);
            let _ = write!(
                out,
                r#"<rect class="{c}" x="{x:.1}" y="{top:.1}" width="{bar:.1}" height="{h:.1}"/>"#,
                c = s.class,
                x = x0 + bar * j as f64,
                h = TOP + plot_h - top
            );
        }
        let label: String = g.label.chars().take(14).collect();
        let _ = write!(
            out,
            r#"<text class="label" x="{x:.1}" y="{ly:.1}" text-anchor="middle">{l}</text>"#,
            x = LEFT + slot * (i as f64 + 0.5),
            ly = H - BOTTOM + 18.0,
            l = escape(&label)
        );
    }
    for (j, s) in series.iter().enumerate() {
        let x = LEFT + 130.0 * j as f64;
        let _ = write!(
            out,
            r#"<rect class="{c}" x="{x}" y="{ly}" width="14" height="14"/><text class="legend" x="{tx}" y="{ty}">{n}</text>"#,
            c = s.class,
            ly = H - 22.0,
            tx = x + 20.0,
            ty = H - 10.0,
            n = escape(&s.name)
        );
    }
    out.push_str("</svg>");
    out
}

/// A step of 1, 2 or 5 × 10ⁿ giving at most about five grid lines up to `max`.
fn nice_step(max: i64) -> i64 {
    let mut unit = 1;
    loop {
        for m in [1, 2, 5] {
            if max <= unit * m * 5 {
                return unit * m;
            }
        }
        unit *= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_scale_and_escape() {
        assert_eq!(nice_step(4), 1);
        assert_eq!(nice_step(37), 10);
        assert_eq!(nice_step(240), 50);
        let s = [Series { name: "Nữ".into(), class: "female" }, Series { name: "Nam".into(), class: "male" }];
        let g = [
            Group { label: "Thôn <Đông>".into(), values: vec![12, 7], highlight: false },
            Group { label: "Thôn Tây".into(), values: vec![0, 3], highlight: true },
        ];
        let svg = bars("Người tham dự", &s, &g);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("Thôn &lt;Đông&gt;: Nữ 12, Nam 7"));
        assert!(svg.contains(r#"class="highlight""#));
        assert_eq!(svg.matches(r#"<rect class="female""#).count(), 3, "two bars and the legend");
    }
}
