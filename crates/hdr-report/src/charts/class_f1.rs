//! F1 per digit, train beside test.

use super::*;

struct ClassF1Chart<'a> {
    train: &'a SplitMetrics,
    test: &'a SplitMetrics,
}

impl Chart for ClassF1Chart<'_> {
    fn size(&self) -> (u32, u32) {
        (1200, 460)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let n = self.train.per_class.len().max(self.test.per_class.len());
        let floor = score_floor(
            self.train
                .per_class
                .iter()
                .chain(&self.test.per_class)
                .map(|c| c.f1),
        );
        let top = 1.0 + (1.0 - floor) * 0.04;
        let area = root.titled("F1 score per digit: train vs test", bold(TITLE_SIZE))?;
        let mut chart = ChartBuilder::on(&area)
            .margin(12)
            .margin_right(24)
            .x_label_area_size(56)
            .y_label_area_size(76)
            .build_cartesian_2d(
                ticks(-0.5..n as f64 - 0.5, (0..n).map(|i| i as f64).collect()),
                floor..top,
            )?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(GRID)
            .max_light_lines(1)
            .bold_line_style(GRID_BOLD)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&score_tick)
            .x_desc("digit")
            .y_desc(if floor > 0.0 {
                format!("F1 (axis starts at {floor:.1})")
            } else {
                "F1".into()
            })
            .label_style(font(TICK_SIZE + 1.0))
            .axis_desc_style(font(AXIS_DESC_SIZE))
            .draw()?;
        let series = [
            (self.train, TRAIN_COLOUR, -0.39),
            (self.test, HELD_OUT_COLOUR, 0.01),
        ];
        for (metrics, colour, offset) in series {
            chart.draw_series(metrics.per_class.iter().map(|c| {
                let x = c.class as f64 + offset;
                Rectangle::new([(x, floor), (x + 0.38, c.f1.max(floor))], colour.filled())
            }))?;
        }
        let (width, _) = root.dim_in_pixel();
        legend_row(
            root,
            &[("train", TRAIN_COLOUR), ("test", HELD_OUT_COLOUR)],
            width as i32 - 24,
            18,
        )?;
        Ok(())
    }
}

/// Grouped bars of every digit's F1 on the train and the test split.
pub fn class_f1(
    name: &'static str,
    train: &SplitMetrics,
    test: &SplitMetrics,
) -> Result<Rendered, Error> {
    let worst = test
        .per_class
        .iter()
        .min_by(|a, b| a.f1.total_cmp(&b.f1).then(a.class.cmp(&b.class)));
    let description = match worst {
        Some(w) => format!(
            "Per-digit F1 of the train and test splits; the lowest test F1 is digit {} ({:.4}).",
            w.class, w.f1
        ),
        None => "Per-digit F1 of the train and test splits.".to_string(),
    };
    render(name, description, &ClassF1Chart { train, test })
}

// ---------------------------------------------------------------------------
