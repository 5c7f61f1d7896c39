//! Test accuracy across the recorded runs, this run highlighted.

use super::*;

struct RunsChart<'a> {
    points: &'a [(u64, f64)],
    this_x: u64,
}

impl Chart for RunsChart<'_> {
    fn size(&self) -> (u32, u32) {
        (1200, 420)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let floor = score_floor(self.points.iter().map(|(_, a)| *a));
        let top = 1.0 + (1.0 - floor) * 0.04;
        let first = self.points.first().map_or(1, |p| p.0) as f64;
        let last = self.points.last().map_or(1, |p| p.0) as f64;
        let step = ((last - first) / 12.0).ceil().max(1.0);
        let ids: Vec<f64> = self
            .points
            .iter()
            .map(|p| p.0 as f64)
            .filter(|x| ((x - first) / step).fract() == 0.0 || *x == last)
            .collect();
        let area = root.titled("Test accuracy across runs", bold(TITLE_SIZE))?;
        let mut chart = ChartBuilder::on(&area)
            .margin(12)
            .margin_right(24)
            .x_label_area_size(56)
            .y_label_area_size(76)
            .build_cartesian_2d(ticks(first - 0.5..last + 0.5, ids), floor..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(GRID)
            .max_light_lines(1)
            .bold_line_style(GRID_BOLD)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&score_tick)
            .x_desc("run")
            .y_desc(if floor > 0.0 {
                format!("test accuracy (axis starts at {floor:.1})")
            } else {
                "test accuracy".into()
            })
            .label_style(font(TICK_SIZE + 1.0))
            .axis_desc_style(font(AXIS_DESC_SIZE))
            .draw()?;
        let xy: Vec<(f64, f64)> = self.points.iter().map(|(x, a)| (*x as f64, *a)).collect();
        chart.draw_series(LineSeries::new(xy.clone(), TRAIN_COLOUR.stroke_width(2)))?;
        chart.draw_series(
            xy.iter()
                .filter(|(x, _)| *x as u64 != self.this_x)
                .map(|p| Circle::new(*p, 5, TRAIN_COLOUR.filled())),
        )?;
        chart.draw_series(
            xy.iter()
                .filter(|(x, _)| *x as u64 == self.this_x)
                .map(|p| Circle::new(*p, 9, HELD_OUT_COLOUR.filled())),
        )?;
        let (width, _) = root.dim_in_pixel();
        legend_row(
            root,
            &[
                ("recorded runs", TRAIN_COLOUR),
                ("this run", HELD_OUT_COLOUR),
            ],
            width as i32 - 24,
            20,
        )?;
        Ok(())
    }
}

/// The chart of test accuracy per run (`points`: run id, accuracy, in id order).
pub fn runs(name: &'static str, points: &[(u64, f64)], this_x: u64) -> Result<Rendered, Error> {
    let description = format!(
        "Test accuracy of the {} successful runs in artifacts/runs.jsonl, by run id; this run (run {this_x}) is the large orange point.",
        points.len()
    );
    render(name, description, &RunsChart { points, this_x })
}
