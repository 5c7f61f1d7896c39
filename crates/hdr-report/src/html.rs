//! report.html (one self-contained page) and summary.md.

use std::fmt::Write as _;

use base64::Engine as _;
use hdr_artifacts::{DataSummary, RunRecord, SplitMetrics, NUM_CLASSES};
use serde_json::Value;

use crate::charts::{thousands, Rendered};
use crate::compare::Comparison;
use crate::inputs::Inputs;

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A JSON leaf as one line of text.
fn json_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "—".to_string(),
        Value::Number(n) => match n.as_u64() {
            Some(u) if u >= 10_000 => thousands(u),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// Every leaf of a JSON object under its dotted key, in document order
/// (serde_json keeps keys sorted, which is stable across runs).
fn flatten<'a>(value: &'a Value, prefix: &str, out: &mut Vec<(String, &'a Value)>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(child, &path, out);
            }
        }
        _ => out.push((prefix.to_string(), value)),
    }
}

fn key_value_table(rows: &[(String, String)]) -> String {
    let mut html = String::from("<table class=\"kv\"><tbody>\n");
    for (key, value) in rows {
        let _ = writeln!(
            html,
            "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
            escape(key),
            escape(value)
        );
    }
    html.push_str("</tbody></table>\n");
    html
}

fn digit_header(first: &str) -> String {
    let mut html = format!("<thead><tr><th scope=\"col\">{}</th>", escape(first));
    for d in 0..NUM_CLASSES {
        let _ = write!(html, "<th scope=\"col\" class=\"num\">{d}</th>");
    }
    html.push_str("<th scope=\"col\" class=\"num\">total</th></tr></thead>\n");
    html
}

/// summary.json: where the data came from, and the images per digit of each split.
fn data_section(summary: &DataSummary) -> String {
    let mut facts = vec![
        ("source", summary.source.clone()),
        ("source sha256", summary.source_sha256.clone()),
        ("source rows", thousands(summary.source_rows as u64)),
    ];
    match &summary.test_source {
        Some(test) => facts.extend([
            ("test source (the test split)", test.path.clone()),
            ("test source sha256", test.sha256.clone()),
        ]),
        None => facts.extend([
            ("test fraction", summary.test_fraction.to_string()),
            ("split seed", summary.seed.to_string()),
        ]),
    }
    facts.push(("data stage seconds", format!("{:.2}", summary.seconds)));
    let rows: Vec<(String, String)> = facts.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    let mut html = key_value_table(&rows);
    html.push_str("<h3>Images per digit</h3>\n<div class=\"scroll\"><table class=\"grid\">\n");
    html.push_str(&digit_header("split"));
    html.push_str("<tbody>\n");
    for (name, split) in [("train", &summary.train), ("test", &summary.test)] {
        let _ = write!(html, "<tr><th scope=\"row\">{name}</th>");
        for n in split.class_counts {
            let _ = write!(html, "<td class=\"num\">{}</td>", thousands(n as u64));
        }
        let _ = writeln!(
            html,
            "<td class=\"num\">{}</td></tr>",
            thousands(split.rows as u64)
        );
    }
    html.push_str("</tbody></table></div>\n");
    html
}

fn classification_table(split: &str, m: &SplitMetrics) -> String {
    let worst = m
        .per_class
        .iter()
        .map(|c| c.f1)
        .fold(f64::INFINITY, f64::min);
    let mut html = format!(
        "<table class=\"grid report\"><caption>{} split ({} images)</caption>\n<thead><tr>\
         <th scope=\"col\">digit</th><th scope=\"col\" class=\"num\">precision</th>\
         <th scope=\"col\" class=\"num\">recall</th><th scope=\"col\" class=\"num\">F1</th>\
         <th scope=\"col\" class=\"num\">support</th></tr></thead>\n<tbody>\n",
        escape(split),
        thousands(m.support)
    );
    for c in &m.per_class {
        let class = if c.f1 == worst {
            " class=\"worst\" title=\"lowest F1\""
        } else {
            ""
        };
        let _ = writeln!(
            html,
            "<tr{class}><th scope=\"row\">{}</th><td class=\"num\">{:.4}</td><td class=\"num\">{:.4}</td>\
             <td class=\"num\">{:.4}</td><td class=\"num\">{}</td></tr>",
            c.class,
            c.precision,
            c.recall,
            c.f1,
            thousands(c.support)
        );
    }
    html.push_str("</tbody><tfoot>\n");
    let _ = writeln!(
        html,
        "<tr><th scope=\"row\">accuracy</th><td></td><td></td><td class=\"num\">{:.4}</td><td class=\"num\">{}</td></tr>",
        m.accuracy,
        thousands(m.support)
    );
    for (name, avg) in [("macro avg", &m.macro_avg), ("weighted avg", &m.weighted)] {
        let _ = writeln!(
            html,
            "<tr><th scope=\"row\">{name}</th><td class=\"num\">{:.4}</td><td class=\"num\">{:.4}</td>\
             <td class=\"num\">{:.4}</td><td class=\"num\">{}</td></tr>",
            avg.precision,
            avg.recall,
            avg.f1,
            thousands(m.support)
        );
    }
    html.push_str("</tfoot></table>\n");
    html
}

/// The headline rows shared by the page and summary.md: (name, train, test).
fn headline_rows(inputs: &Inputs) -> Vec<(&'static str, String, String)> {
    let (tr, te) = (&inputs.metrics.train, &inputs.metrics.test);
    let pair = |f: &dyn Fn(&SplitMetrics) -> String| (f(tr), f(te));
    let rows: Vec<(&'static str, (String, String))> = vec![
        ("accuracy", pair(&|m| format!("{:.4}", m.accuracy))),
        (
            "macro precision",
            pair(&|m| format!("{:.4}", m.macro_avg.precision)),
        ),
        (
            "macro recall",
            pair(&|m| format!("{:.4}", m.macro_avg.recall)),
        ),
        ("macro F1", pair(&|m| format!("{:.4}", m.macro_avg.f1))),
        ("log loss", pair(&|m| format!("{:.4}", m.log_loss))),
        ("images", pair(&|m| thousands(m.support))),
        (
            "inference images/s",
            pair(&|m| thousands(m.images_per_s.round() as u64)),
        ),
    ];
    rows.into_iter()
        .map(|(name, (a, b))| (name, a, b))
        .collect()
}

/// Where the extra test set `name` came from, as configured.
fn extra_test_source<'a>(inputs: &'a Inputs, name: &str) -> &'a str {
    let summary = &inputs.data_summary.extra_tests;
    summary
        .iter()
        .find(|e| e.name == name)
        .map_or("?", |e| e.path.as_str())
}

/// The extra test sets beside the test split: one row each.
fn extra_tests_section(inputs: &Inputs) -> String {
    let mut html = String::from(
        "<h2 id=\"extra-tests\">Extra test sets</h2>\n<p>Labelled digits from elsewhere \
         (<code>data.extra_test_sources</code>), never trained on, beside the test split.</p>\n\
         <table>\n<tr><th>set</th><th>source</th><th>images</th><th>accuracy</th><th>macro F1</th></tr>\n",
    );
    let test = &inputs.metrics.test;
    let rows = std::iter::once(("test split", inputs.data_summary.source.as_str(), test)).chain(
        inputs.metrics.extra_tests.iter().map(|e| {
            (
                e.name.as_str(),
                extra_test_source(inputs, &e.name),
                &e.metrics,
            )
        }),
    );
    for (name, source, m) in rows {
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{:.4}</td><td>{:.4}</td></tr>",
            escape(name),
            escape(source),
            thousands(m.support),
            m.accuracy,
            m.macro_avg.f1
        );
    }
    html.push_str("</table>\n");
    html
}

fn model_line(inputs: &Inputs) -> String {
    let card = &inputs.card;
    format!(
        "{} parameters; {} epochs trained, weights kept from epoch {} (validation accuracy {:.4})",
        thousands(card.parameters as u64),
        card.epochs_trained,
        card.best_epoch,
        card.best_val_accuracy
    )
}

fn data_line(summary: &DataSummary) -> String {
    format!(
        "{} (sha256 {}), {} images: {} train, {} test",
        summary.source,
        summary.source_sha256,
        thousands(summary.source_rows as u64),
        thousands(summary.train.rows as u64),
        thousands(summary.test.rows as u64)
    )
}

const STYLE: &str = r#"
:root { --ink:#212121; --muted:#5f5f5f; --line:#dcdcdc; --band:#f5f6f8; --train:#0072b2; --test:#d55e00; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 16px/1.5 "DejaVu Sans", system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 1320px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 30px; margin: 0 0 4px; }
h2 { font-size: 22px; margin: 40px 0 12px; padding-bottom: 6px; border-bottom: 2px solid var(--line); }
h3 { font-size: 18px; margin: 24px 0 8px; }
p.lead { color: var(--muted); margin: 0 0 20px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: 12px; }
.card { background: var(--band); border-radius: 8px; padding: 12px 16px; border-left: 5px solid var(--test); }
.card.train { border-left-color: var(--train); }
.card.model { border-left-color: #777; }
.card .value { font-size: 26px; font-weight: bold; font-variant-numeric: tabular-nums; }
.card .name { color: var(--muted); font-size: 14px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; margin: 8px 0 16px; }
th, td { padding: 5px 12px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
thead th { border-bottom: 2px solid #bbb; }
tfoot th, tfoot td { border-top: 2px solid #bbb; }
td.num, th.num { text-align: right; }
table.kv th { font-weight: normal; color: var(--muted); white-space: nowrap; }
table.kv td { word-break: break-all; font-family: "DejaVu Sans Mono", ui-monospace, Menlo, Consolas, monospace; font-size: 14px; }
table.grid tbody tr:nth-child(even) { background: var(--band); }
tr.worst { background: #fff1e6 !important; }
caption { text-align: left; font-weight: bold; padding: 4px 0; }
.scroll { overflow-x: auto; }
.reports { display: flex; flex-wrap: wrap; gap: 40px; }
.pair { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 16px 0 28px; max-width: 100%; }
figure img { max-width: 100%; height: auto; display: block; border: 1px solid var(--line); border-radius: 4px; }
figcaption { color: var(--muted); font-size: 14px; margin-top: 6px; max-width: 1200px; }
code, pre { font-family: "DejaVu Sans Mono", ui-monospace, Menlo, Consolas, monospace; font-size: 14px; }
pre { background: var(--band); padding: 12px 16px; border-radius: 6px; overflow-x: auto; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; vertical-align: baseline; }
"#;

/// Counts the images that decoded; the browser test reads the attribute.
const SCRIPT: &str = "window.addEventListener('load', function () {\n\
  var all = Array.prototype.slice.call(document.images);\n\
  var loaded = all.filter(function (img) { return img.complete && img.naturalWidth > 0; }).length;\n\
  document.body.dataset.images = loaded + '/' + all.length;\n\
});";

/// This run beside the previous and the best recorded run, with the chart of all runs.
fn runs_section(c: &Comparison, chart: &str) -> String {
    let mut html = String::from("<section id=\"runs\"><h2>Compared with earlier runs</h2>\n");
    let this_name = match c.this_id {
        Some(id) => format!("this run (run {id})"),
        None => "this run".to_string(),
    };
    let mut columns: Vec<(String, &RunRecord)> = Vec::new();
    if let Some(previous) = &c.previous {
        let other = if c.test.matches(previous) {
            ""
        } else {
            ", scored on other test data"
        };
        columns.push((format!("previous (run {}{other})", previous.id), previous));
    }
    if let Some(best) = &c.best {
        columns.push((format!("best (run {})", best.id), best));
    }
    if columns.is_empty() {
        html.push_str(
            "<p>No earlier run in <code>artifacts/runs.jsonl</code> to compare with, or none \
             more accurate than this one.</p>\n",
        );
    } else {
        html.push_str("<table class=\"grid\"><thead><tr><th scope=\"col\">metric</th>");
        let _ = write!(
            html,
            "<th scope=\"col\" class=\"num\">{}</th>",
            escape(&this_name)
        );
        for (name, _) in &columns {
            let _ = write!(
                html,
                "<th scope=\"col\" class=\"num\">{}</th><th scope=\"col\" class=\"num\">this − it</th>",
                escape(name)
            );
        }
        html.push_str("</tr></thead><tbody>\n");
        for (i, (name, value)) in c.this.named().into_iter().enumerate() {
            let _ = write!(
                html,
                "<tr><th scope=\"row\">{}</th><td class=\"num\">{value:.4}</td>",
                escape(&name.replace('_', " "))
            );
            for (_, run) in &columns {
                let theirs = run.metrics.map(|m| m.named()[i].1).unwrap_or(f64::NAN);
                let _ = write!(
                    html,
                    "<td class=\"num\">{theirs:.4}</td><td class=\"num\">{:+.4}</td>",
                    value - theirs
                );
            }
            html.push_str("</tr>\n");
        }
        html.push_str("</tbody></table>\n<table class=\"kv\"><tbody>\n");
        for (name, run) in &columns {
            let _ = writeln!(
                html,
                "<tr><th scope=\"row\">settings vs {}</th><td>{}</td></tr>",
                escape(name),
                escape(&crate::compare::changes_from(run, &c.params, &c.test))
            );
        }
        html.push_str("</tbody></table>\n");
    }
    if c.best.is_none() && !c.accuracy_by_run.is_empty() {
        html.push_str("<p>This run has the best test accuracy of the recorded runs");
        if c.other_test_data > 0 {
            let _ = write!(
                html,
                " scored on the same test data ({} other runs, scored on other test data, are \
                 not compared)",
                c.other_test_data
            );
        }
        html.push_str(".</p>\n");
    } else if c.other_test_data > 0 {
        let _ = writeln!(
            html,
            "<p>Best and the chart compare runs scored on the same test data as this one; {} \
             other runs were scored on other test data.</p>",
            c.other_test_data
        );
    }
    html.push_str(chart);
    html.push_str("</section>\n");
    html
}

fn figure(chart: &Rendered) -> String {
    let data = base64::engine::general_purpose::STANDARD.encode(&chart.png);
    format!(
        "<figure id=\"{name}\" style=\"width:{w}px\"><img src=\"data:image/png;base64,{data}\" width=\"{w}\" height=\"{h}\" alt=\"{alt}\">\
         <figcaption>{alt} <span class=\"files\">Files: <code>{name}.png</code>, <code>{name}.svg</code>.</span></figcaption></figure>\n",
        name = escape(&chart.name),
        w = chart.size.0,
        h = chart.size.1,
        alt = escape(&chart.description),
    )
}

/// The whole page; `charts` in the order they should appear, looked up by name.
pub fn page(title: &str, inputs: &Inputs, charts: &[Rendered]) -> String {
    let chart = |name: &str| {
        charts
            .iter()
            .find(|c| c.name == name)
            .map(figure)
            .unwrap_or_default()
    };
    let (tr, te) = (&inputs.metrics.train, &inputs.metrics.test);
    let card = &inputs.card;
    let mut html = String::with_capacity(1 << 20);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; \
         style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n\
         <title>{t}</title>\n<style>{STYLE}</style>\n<script>{SCRIPT}</script>\n</head>\n<body>\n<main>\n\
         <h1>{t}</h1>\n",
        t = escape(title)
    );
    let lead = format!(
        "Data: {}. Model: {}.",
        data_line(&inputs.data_summary),
        model_line(inputs)
    );
    let _ = writeln!(html, "<p class=\"lead\">{}</p>", escape(&lead));

    // Headline numbers.
    html.push_str("<section id=\"headline\"><h2>Headline numbers</h2>\n<div class=\"cards\">\n");
    let cards: [(&str, &str, String); 8] = [
        ("test", "test accuracy", format!("{:.4}", te.accuracy)),
        ("test", "test macro F1", format!("{:.4}", te.macro_avg.f1)),
        ("test", "test log loss", format!("{:.4}", te.log_loss)),
        ("train", "train accuracy", format!("{:.4}", tr.accuracy)),
        ("train", "train macro F1", format!("{:.4}", tr.macro_avg.f1)),
        (
            "test",
            "inference images/s (test)",
            thousands(te.images_per_s.round() as u64),
        ),
        ("model", "parameters", thousands(card.parameters as u64)),
        (
            "model",
            "epochs (kept)",
            format!("{} ({})", card.epochs_trained, card.best_epoch),
        ),
    ];
    for (kind, name, value) in cards {
        let _ = writeln!(
            html,
            "<div class=\"card {kind}\"><div class=\"value\">{}</div><div class=\"name\">{}</div></div>",
            escape(&value),
            escape(name)
        );
    }
    html.push_str("</div>\n<table class=\"grid\"><thead><tr><th scope=\"col\">metric</th>\
                   <th scope=\"col\" class=\"num\"><span class=\"swatch\" style=\"background:var(--train)\"></span> train</th>\
                   <th scope=\"col\" class=\"num\"><span class=\"swatch\" style=\"background:var(--test)\"></span> test</th></tr></thead><tbody>\n");
    for (name, train, test) in headline_rows(inputs) {
        let _ = writeln!(
            html,
            "<tr><th scope=\"row\">{}</th><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            escape(name),
            escape(&train),
            escape(&test)
        );
    }
    html.push_str("</tbody></table></section>\n");

    let comparison = crate::compare::compare(inputs, &inputs.runs);
    html.push_str(&runs_section(&comparison, &chart(crate::CHART_RUNS)));

    // Charts.
    html.push_str("<section id=\"charts\"><h2>Scores</h2>\n<div class=\"pair\">");
    html.push_str(&chart(crate::CHART_SCORES_TRAIN));
    html.push_str(&chart(crate::CHART_SCORES_TEST));
    html.push_str("</div>\n<h2>Confusion matrices</h2>\n<div class=\"pair\">");
    html.push_str(&chart(crate::CHART_CONFUSION_TRAIN));
    html.push_str(&chart(crate::CHART_CONFUSION_TEST));
    html.push_str("</div>\n");
    if let Some(user) = &inputs.metrics.user_test {
        let _ = write!(
            html,
            "<h2 id=\"your-digits\">Your digits</h2>\n<p>Accuracy {:.4} on {} of your own \
             digits held out of training (the model trained on {} others of yours).</p>\n",
            user.accuracy,
            thousands(user.support),
            thousands(inputs.card.user_samples as u64)
        );
        html.push_str(&chart(crate::CHART_CONFUSION_USER));
    }
    if !inputs.metrics.extra_tests.is_empty() {
        html.push_str(&extra_tests_section(inputs));
        for extra in &inputs.metrics.extra_tests {
            html.push_str(&chart(&crate::extra_confusion_chart(&extra.name)));
        }
    }
    html.push_str("<h2>Training</h2>\n");
    html.push_str(&chart(crate::CHART_CURVES));
    html.push_str("<h2>Per-digit F1</h2>\n");
    html.push_str(&chart(crate::CHART_CLASS_F1));
    html.push_str("<h2>Most confident mistakes</h2>\n");
    html.push_str(&chart(crate::CHART_MISTAKES));
    html.push_str("</section>\n");

    // Classification reports.
    html.push_str(
        "<section id=\"classification\"><h2>Classification report</h2>\n<div class=\"reports\">\n",
    );
    html.push_str(&classification_table("Train", tr));
    html.push_str(&classification_table("Test", te));
    html.push_str("</div></section>\n");

    // Run configuration.
    html.push_str(
        "<section id=\"config\"><h2>Run configuration</h2>\n<h3>Training (model.json)</h3>\n",
    );
    let mut leaves = Vec::new();
    flatten(&card.train_config, "train", &mut leaves);
    let mut rows: Vec<(String, String)> =
        leaves.into_iter().map(|(k, v)| (k, json_text(v))).collect();
    rows.push(("network".into(), card.architecture_name.clone()));
    rows.push(("parameters".into(), thousands(card.parameters as u64)));
    rows.push(("kernels".into(), card.kernels.clone()));
    rows.push(("epochs trained".into(), card.epochs_trained.to_string()));
    rows.push(("best epoch".into(), card.best_epoch.to_string()));
    rows.push((
        "best validation accuracy".into(),
        format!("{:.4}", card.best_val_accuracy),
    ));
    rows.push(("train split sha256".into(), card.data_sha256.clone()));
    html.push_str(&key_value_table(&rows));
    html.push_str("<h3>Architecture</h3>\n<pre>");
    html.push_str(&escape(&card.architecture.join("\n")));
    html.push_str("</pre>\n</section>\n");

    html.push_str("<section id=\"data\"><h2>Data (summary.json)</h2>\n");
    html.push_str(&data_section(&inputs.data_summary));
    html.push_str("</section>\n</main>\n</body>\n</html>\n");
    html
}

fn markdown_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// summary.md: the headline numbers as a markdown table.
pub fn summary_markdown(title: &str, inputs: &Inputs) -> String {
    let mut md = format!("# {}\n\n", markdown_cell(title));
    md.push_str("| metric | train | test |\n|---|---:|---:|\n");
    for (name, train, test) in headline_rows(inputs) {
        let _ = writeln!(md, "| {name} | {train} | {test} |");
    }
    let _ = writeln!(md, "\nModel: {}.", markdown_cell(&model_line(inputs)));
    let _ = writeln!(
        md,
        "Data: {}.",
        markdown_cell(&data_line(&inputs.data_summary))
    );
    if let Some(user) = &inputs.metrics.user_test {
        let _ = writeln!(
            md,
            "Your digits: accuracy {:.4} on {} held out (trained on {} others).",
            user.accuracy,
            thousands(user.support),
            thousands(inputs.card.user_samples as u64)
        );
    }
    for extra in &inputs.metrics.extra_tests {
        let _ = writeln!(
            md,
            "Extra test set {} ({}): accuracy {:.4} on {} images.",
            markdown_cell(&extra.name),
            markdown_cell(extra_test_source(inputs, &extra.name)),
            extra.metrics.accuracy,
            thousands(extra.metrics.support)
        );
    }
    let _ = writeln!(
        md,
        "Test mistakes: {} of {} images.\n\nCharts and the classification report: `report.html`.",
        thousands(inputs.total_mistakes as u64),
        thousands(inputs.metrics.test.support)
    );
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn data_section_tabulates_class_counts_and_escapes() {
        let summary = DataSummary {
            source: "data/<x>.csv".into(),
            source_sha256: "ab".repeat(32),
            source_rows: 12_345,
            test_source: None,
            test_fraction: 0.2,
            seed: 42,
            train: hdr_artifacts::SplitSummary {
                rows: 8,
                class_counts: [1, 1, 1, 1, 1, 1, 1, 1, 0, 0],
            },
            test: hdr_artifacts::SplitSummary {
                rows: 2,
                class_counts: [0, 0, 0, 0, 0, 0, 0, 0, 1, 1],
            },
            user_samples: None,
            seconds: 0.5,
            extra_tests: Vec::new(),
        };
        let html = data_section(&summary);
        assert!(html.contains("data/&lt;x&gt;.csv"));
        assert!(html.contains("12,345"));
        assert!(html.contains("<tr><th scope=\"row\">test</th><td class=\"num\">0</td>"));
        assert!(
            html.contains("<td class=\"num\">1</td><td class=\"num\">2</td></tr>"),
            "{html}"
        );
    }
}
