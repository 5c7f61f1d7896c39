//! The confusion heatmap of a split.

use super::*;

/// Colour of a confusion cell: viridis over the square root of the share of
/// the true class, so that a 1 % confusion is visibly different from none.
fn confusion_colour(share: f64) -> RGBColor {
    ViridisRGB.get_color(share.clamp(0.0, 1.0).sqrt() as f32)
}

/// Black or white, whichever reads better on `background`.
fn contrasting_text(background: RGBColor) -> RGBColor {
    let RGBColor(r, g, b) = background;
    let luminance = 0.2126 * r as f64 + 0.7152 * g as f64 + 0.0722 * b as f64;
    if luminance > 140.0 {
        RGBColor(0, 0, 0)
    } else {
        RGBColor(255, 255, 255)
    }
}

struct ConfusionChart<'a> {
    split: &'a str,
    matrix: &'a [Vec<u64>],
}

impl Chart for ConfusionChart<'_> {
    fn size(&self) -> (u32, u32) {
        (760, 700)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let n = self.matrix.len();
        let total: u64 = self.matrix.iter().flatten().sum();
        let title = format!(
            "{}: confusion matrix ({} images)",
            capitalised(self.split),
            thousands(total)
        );
        let area = root.titled(&title, bold(TITLE_SIZE))?;
        let (width, _) = area.dim_in_pixel();
        let (main, legend) = area.split_horizontally(width as i32 - 150);
        let (top_margin, bottom_area) = (12, 64);
        let digits: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let span = -0.5f64..n as f64 - 0.5;
        let mut chart = ChartBuilder::on(&main)
            .margin(12)
            .margin_top(top_margin)
            .x_label_area_size(bottom_area)
            .y_label_area_size(64)
            .build_cartesian_2d(ticks(span.clone(), digits.clone()), ticks(span, digits))?;
        // Row 0 (true digit 0) at the top, as in every confusion-matrix plot.
        let flip = |row: usize| (n - 1 - row) as f64;
        let n_f = n as f64;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_label_formatter(&|v| format!("{:.0}", v))
            .y_label_formatter(&|v| format!("{:.0}", n_f - 1.0 - v))
            .x_desc("Predicted")
            .y_desc("True")
            .label_style(font(TICK_SIZE + 1.0))
            .axis_desc_style(bold(AXIS_DESC_SIZE))
            .draw()?;
        let largest = self.matrix.iter().flatten().copied().max().unwrap_or(0);
        let count_size = if largest >= 10_000 { 13.0 } else { 15.0 };
        for (t, row) in self.matrix.iter().enumerate() {
            let row_total: u64 = row.iter().sum();
            for (p, &count) in row.iter().enumerate() {
                let share = if row_total == 0 {
                    0.0
                } else {
                    count as f64 / row_total as f64
                };
                let colour = confusion_colour(share);
                let (x, y) = (p as f64, flip(t));
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
                    colour.filled(),
                )))?;
                let style = FontDesc::new(
                    FontFamily::Name(FONT),
                    count_size,
                    if p == t {
                        FontStyle::Bold
                    } else {
                        FontStyle::Normal
                    },
                )
                .color(&contrasting_text(colour))
                .pos(Pos::new(HPos::Center, VPos::Center));
                chart.draw_series(std::iter::once(Text::new(count.to_string(), (x, y), style)))?;
            }
        }
        // The colour scale, its ticks at round shares placed on the sqrt scale.
        let shares = [0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0];
        let mut scale = ChartBuilder::on(&legend)
            .margin(12)
            .margin_top(top_margin)
            .margin_right(8)
            .x_label_area_size(bottom_area)
            .right_y_label_area_size(90)
            .build_cartesian_2d(
                0f64..1f64,
                ticks(0.0..1.0, shares.iter().map(|s: &f64| s.sqrt()).collect()),
            )?;
        scale
            .configure_mesh()
            .disable_mesh()
            .disable_x_axis()
            .y_label_formatter(&|v| format!("{:.0}%", v * v * 100.0))
            .y_desc("share of the true digit's images")
            .label_style(font(TICK_SIZE - 1.0))
            .axis_desc_style(font(TICK_SIZE))
            .draw()?;
        let steps = 200;
        scale.draw_series((0..steps).map(|i| {
            let (lo, hi) = (i as f64 / steps as f64, (i + 1) as f64 / steps as f64);
            Rectangle::new(
                [(0.0, lo), (1.0, hi)],
                ViridisRGB.get_color(((lo + hi) / 2.0) as f32).filled(),
            )
        }))?;
        scale.draw_series(std::iter::once(Rectangle::new(
            [(0.0, 0.0), (1.0, 1.0)],
            INK.stroke_width(1),
        )))?;
        Ok(())
    }
}

/// The confusion-matrix heatmap of one split (rows true, columns predicted);
/// `split` names it in a title and a caption (`test split`, `your digits`).
pub fn confusion(name: &str, split: &str, matrix: &[Vec<u64>]) -> Result<Rendered, Error> {
    let total: u64 = matrix.iter().flatten().sum();
    let correct: u64 = matrix
        .iter()
        .enumerate()
        .map(|(i, row)| row.get(i).copied().unwrap_or(0))
        .sum();
    let description = format!(
        "Confusion matrix of the {split}: {} of {} images on the diagonal; rows are true digits, \
         columns predicted digits, each cell shows its count and is coloured by its share of the row.",
        thousands(correct),
        thousands(total)
    );
    render(name, description, &ConfusionChart { split, matrix })
}

// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_text_contrasts_with_the_cell() {
        assert_eq!(
            contrasting_text(confusion_colour(0.0)),
            RGBColor(255, 255, 255)
        );
        assert_eq!(contrasting_text(confusion_colour(1.0)), RGBColor(0, 0, 0));
    }
}
