//! The bar chart of a split's scores: accuracy, and precision, recall and F1 averaged two ways.

use super::*;

struct ScoresChart<'a> {
    split: &'a str,
    metrics: &'a SplitMetrics,
    colour: RGBColor,
}

impl Chart for ScoresChart<'_> {
    fn size(&self) -> (u32, u32) {
        (600, 440)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let m = self.metrics;
        let bars = [
            ("Accuracy", m.accuracy),
            ("Precision", m.macro_avg.precision),
            ("Recall", m.macro_avg.recall),
            ("F1", m.macro_avg.f1),
        ];
        let floor = score_floor(bars.iter().map(|b| b.1));
        let top = 1.0 + (1.0 - floor) * 0.1;
        let title = format!(
            "{} split: accuracy and macro scores",
            capitalised(self.split)
        );
        let area = root.titled(&title, bold(TITLE_SIZE))?;
        let mut chart = ChartBuilder::on(&area)
            .margin(12)
            .margin_right(24)
            .x_label_area_size(56)
            .y_label_area_size(76)
            .build_cartesian_2d(
                ticks(
                    -0.5..bars.len() as f64 - 0.5,
                    (0..bars.len()).map(|i| i as f64).collect(),
                ),
                floor..top,
            )?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(GRID)
            .max_light_lines(1)
            .bold_line_style(GRID_BOLD)
            .x_label_formatter(&|v| {
                let i = v.round() as usize;
                bars.get(i).map(|b| b.0.to_string()).unwrap_or_default()
            })
            .y_label_formatter(&score_tick)
            .x_desc(format!(
                "{} images; precision, recall and F1 averaged over the 10 digits",
                thousands(m.support)
            ))
            .y_desc(score_axis_desc(floor))
            .label_style(font(TICK_SIZE))
            .axis_desc_style(font(AXIS_DESC_SIZE))
            .draw()?;
        chart.draw_series(bars.iter().enumerate().map(|(i, &(_, v))| {
            let x = i as f64;
            Rectangle::new(
                [(x - 0.3, floor), (x + 0.3, v.max(floor))],
                self.colour.filled(),
            )
        }))?;
        let label_style = bold(TICK_SIZE).pos(Pos::new(HPos::Center, VPos::Bottom));
        chart.draw_series(bars.iter().enumerate().map(|(i, &(_, v))| {
            Text::new(
                format!("{v:.4}"),
                (i as f64, v.max(floor) + (top - floor) * 0.012),
                label_style.clone(),
            )
        }))?;
        Ok(())
    }
}

/// The bar chart of accuracy and macro precision, recall and F1 of one split.
pub fn scores(
    name: &'static str,
    split: &str,
    metrics: &SplitMetrics,
    colour: RGBColor,
) -> Result<Rendered, Error> {
    let description = format!(
        "Bar chart of the {split} split's accuracy ({:.4}) and macro precision ({:.4}), recall ({:.4}) and F1 ({:.4}).",
        metrics.accuracy, metrics.macro_avg.precision, metrics.macro_avg.recall, metrics.macro_avg.f1
    );
    render(
        name,
        description,
        &ScoresChart {
            split,
            metrics,
            colour,
        },
    )
}

// ---------------------------------------------------------------------------
