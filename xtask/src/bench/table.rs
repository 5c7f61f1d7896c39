//! The results table: one row per measurement, with the peer's figure and the ratio.

use serde_json::{json, Value};

/// One line of the results table. `higher_is_better` decides which way the
/// ratio is taken, so that the advantage column always reads "> 1: hdr is better".
#[derive(Debug, Clone)]
pub struct Row {
    /// What was measured.
    pub name: String,
    /// hdr's figure; `None` when hdr's side failed.
    pub ours: Option<f64>,
    /// Unit of both figures.
    pub unit: &'static str,
    /// The peer (or target) and its figure.
    pub peer: Option<(String, f64)>,
    /// Whether a larger figure is better (throughput) or worse (time, memory).
    pub higher_is_better: bool,
}

impl Row {
    /// A row of hdr's figure against a peer's, when the peer ran.
    pub fn new(
        name: impl Into<String>,
        ours: Option<f64>,
        unit: &'static str,
        peer: Option<(String, f64)>,
        higher_is_better: bool,
    ) -> Self {
        Self {
            name: name.into(),
            ours,
            unit,
            peer,
            higher_is_better,
        }
    }

    /// hdr's advantage: > 1 means hdr is better; none when either side is
    /// missing or the quotient means nothing (a zero or negative figure).
    pub fn ratio(&self) -> Option<f64> {
        let ours = self.ours?;
        let (_, peer) = self.peer.as_ref()?;
        let ratio = if self.higher_is_better {
            ours / peer
        } else {
            peer / ours
        };
        (ratio.is_finite() && ratio > 0.0).then_some(ratio)
    }

    fn markdown(&self) -> String {
        let value = |v: f64| format!("{} {}", fmt(v), self.unit).trim_end().to_string();
        let (peer_name, peer_value) = match &self.peer {
            Some((name, v)) => (name.clone(), value(*v)),
            None => ("(not measured)".into(), "-".into()),
        };
        let ours = self.ours.map_or("failed".to_string(), value);
        let ratio = self.ratio().map_or("-".to_string(), |r| format!("{r:.2}x"));
        format!(
            "| {} | {ours} | {peer_name} | {peer_value} | {ratio} |",
            self.name
        )
    }

    /// The row as an object of bench.json.
    pub fn json(&self) -> Value {
        json!({
            "name": self.name, "hdr": self.ours, "unit": self.unit,
            "peer": self.peer.as_ref().map(|(n, _)| n.clone()),
            "peer_value": self.peer.as_ref().map(|(_, v)| *v),
            "advantage": self.ratio(),
        })
    }
}

/// The whole table in Markdown.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from(
        "| measurement | hdr | compared with | its value | hdr advantage (>1: hdr better) |\n\
         | --- | ---: | --- | ---: | ---: |",
    );
    for row in rows {
        out.push('\n');
        out.push_str(&row.markdown());
    }
    out
}

/// Three significant-ish digits: 24700, 2.35, 0.382.
fn fmt(value: f64) -> String {
    if !value.is_finite() {
        value.to_string()
    } else if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advantage_reads_above_one_when_hdr_is_better_either_way() {
        let faster = Row::new("speed", Some(200.0), "x/s", Some(("p".into(), 50.0)), true);
        assert_eq!(faster.ratio(), Some(4.0));
        let smaller = Row::new("mem", Some(100.0), "MB", Some(("p".into(), 400.0)), false);
        assert_eq!(smaller.ratio(), Some(4.0));
        assert_eq!(
            Row::new("x", None, "s", Some(("p".into(), 1.0)), false).ratio(),
            None
        );
        assert_eq!(Row::new("x", Some(1.0), "s", None, false).ratio(), None);
        let nothing_per_row = Row::new("x", Some(0.0), "B", Some(("t".into(), 1.0)), false);
        assert_eq!(nothing_per_row.ratio(), None);
    }

    #[test]
    fn markdown_shows_failures_and_missing_peers() {
        let rows = [
            Row::new(
                "a",
                Some(24_712.3),
                "samples/s",
                Some(("tf".into(), 6_050.0)),
                true,
            ),
            Row::new("b", None, "s", None, false),
        ];
        let text = markdown(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[2],
            "| a | 24712 samples/s | tf | 6050 samples/s | 4.08x |"
        );
        assert_eq!(lines[3], "| b | failed | (not measured) | - | - |");
    }

    #[test]
    fn numbers_keep_about_three_digits() {
        assert_eq!(fmt(24_712.3), "24712");
        assert_eq!(fmt(2.346), "2.35");
        assert_eq!(fmt(0.3821), "0.382");
    }
}
