//! Training curves: loss and accuracy per epoch, the kept epoch marked.

use super::*;

struct CurvesChart<'a> {
    history: &'a [EpochRecord],
    best_epoch: usize,
}

impl CurvesChart<'_> {
    fn epoch_ticks(&self) -> Vec<f64> {
        let n = self.history.len().max(1);
        let step = n.div_ceil(12);
        (1..=n)
            .filter(|e| (e - 1) % step == 0 || *e == n)
            .map(|e| e as f64)
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        caption: &str,
        y_desc: &str,
        y_range: std::ops::Range<f64>,
        y_format: &dyn Fn(&f64) -> String,
        train: &dyn Fn(&EpochRecord) -> f64,
        validation: &dyn Fn(&EpochRecord) -> f64,
        legend_at: SeriesLabelPosition,
    ) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let n = self.history.len().max(1) as f64;
        let mut chart = ChartBuilder::on(area)
            .caption(caption, bold(AXIS_DESC_SIZE + 1.0))
            .margin(12)
            .margin_right(24)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(ticks(0.5..n + 0.5, self.epoch_ticks()), y_range.clone())?;
        chart
            .configure_mesh()
            .light_line_style(GRID)
            .max_light_lines(1)
            .bold_line_style(GRID_BOLD)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(y_format)
            .x_desc("epoch")
            .y_desc(y_desc)
            .label_style(font(TICK_SIZE))
            .axis_desc_style(font(AXIS_DESC_SIZE))
            .draw()?;
        if self.history.is_empty() {
            let middle = (y_range.start + y_range.end) / 2.0;
            chart.draw_series(std::iter::once(Text::new(
                "no epochs recorded",
                (n / 2.0 + 0.5, middle),
                font(AXIS_DESC_SIZE).pos(Pos::new(HPos::Center, VPos::Center)),
            )))?;
            return Ok(());
        }
        if (1..=self.history.len()).contains(&self.best_epoch) {
            let x = self.best_epoch as f64;
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x, y_range.start), (x, y_range.end)],
                    MUTED.stroke_width(2),
                )))?
                .label(format!("kept weights (epoch {})", self.best_epoch))
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], MUTED.stroke_width(2))
                });
        }
        let points = |f: &dyn Fn(&EpochRecord) -> f64| -> Vec<(f64, f64)> {
            self.history
                .iter()
                .map(|r| (r.epoch as f64, f(r)))
                .collect()
        };
        let train_points = points(train);
        let validation_points = points(validation);
        chart
            .draw_series(LineSeries::new(
                train_points.clone(),
                TRAIN_COLOUR.stroke_width(3),
            ))?
            .label("train")
            .legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], TRAIN_COLOUR.stroke_width(3))
            });
        chart.draw_series(
            train_points
                .iter()
                .map(|&p| Circle::new(p, 4, TRAIN_COLOUR.filled())),
        )?;
        chart
            .draw_series(LineSeries::new(
                validation_points.clone(),
                HELD_OUT_COLOUR.stroke_width(3),
            ))?
            .label("validation")
            .legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], HELD_OUT_COLOUR.stroke_width(3))
            });
        chart.draw_series(
            validation_points
                .iter()
                .map(|&p| TriangleMarker::new(p, 6, HELD_OUT_COLOUR.filled())),
        )?;
        chart
            .configure_series_labels()
            .position(legend_at)
            .margin(10)
            .label_font(font(TICK_SIZE))
            .background_style(WHITE.mix(0.9))
            .border_style(GRID_BOLD)
            .draw()?;
        Ok(())
    }
}

impl Chart for CurvesChart<'_> {
    fn size(&self) -> (u32, u32) {
        (1200, 460)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let area = root.titled(
            "Training curves: train vs validation, per epoch",
            bold(TITLE_SIZE),
        )?;
        let panels = area.split_evenly((1, 2));
        let max_loss = self
            .history
            .iter()
            .map(|r| r.train_loss.max(r.val_loss))
            .fold(0.0f64, f64::max);
        let loss_top = if max_loss > 0.0 { max_loss * 1.1 } else { 1.0 };
        self.panel(
            &panels[0],
            "Loss",
            "mean cross-entropy",
            0.0..loss_top,
            &|v| format!("{v:.2}"),
            &|r| r.train_loss,
            &|r| r.val_loss,
            SeriesLabelPosition::UpperRight,
        )?;
        let floor = score_floor(
            self.history
                .iter()
                .flat_map(|r| [r.train_accuracy, r.val_accuracy]),
        );
        self.panel(
            &panels[1],
            "Accuracy",
            &if floor > 0.0 {
                format!("accuracy (axis starts at {floor:.1})")
            } else {
                "accuracy".into()
            },
            floor..1.0,
            &|v| format!("{v:.2}"),
            &|r| r.train_accuracy,
            &|r| r.val_accuracy,
            SeriesLabelPosition::LowerRight,
        )?;
        Ok(())
    }
}

/// Loss and accuracy per epoch, train vs validation, in two panels.
pub fn curves(
    name: &'static str,
    history: &[EpochRecord],
    best_epoch: usize,
) -> Result<Rendered, Error> {
    let description = match history.last() {
        Some(last) => format!(
            "Training curves over {} epochs: loss and accuracy of train and validation data per epoch; \
             last epoch validation accuracy {:.4}, weights kept from epoch {best_epoch}.",
            history.len(),
            last.val_accuracy
        ),
        None => "Training curves: no epochs recorded.".to_string(),
    };
    render(
        name,
        description,
        &CurvesChart {
            history,
            best_epoch,
        },
    )
}

// ---------------------------------------------------------------------------
