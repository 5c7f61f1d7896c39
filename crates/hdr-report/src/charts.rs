//! The report's charts, each drawn once per backend so the PNG and the SVG
//! show exactly the same thing.
//!
//! Text is drawn with DejaVu Sans, compiled into the binary and registered as
//! plotters' `sans-serif`, so PNGs render identically on a machine without
//! any system fonts ([`CrispText`] draws it; plotters measures it). SVG text names the generic `sans-serif` family and is
//! laid out by whatever viewer opens it: the page never depends on that,
//! because report.html embeds the PNGs.

use std::error::Error as StdError;
use std::sync::OnceLock;

use hdr_artifacts::{EpochRecord, SplitMetrics};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::inputs::Mistake;

mod runs;
use crate::text::{CrispText, Faces};
use crate::Error;
pub use runs::runs;

const FONT: &str = "sans-serif";
static REGULAR: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../assets/DejaVuSans-Bold.ttf");

/// Okabe-Ito blue: the train split everywhere.
pub const TRAIN_COLOUR: RGBColor = RGBColor(0, 114, 178);
/// Okabe-Ito vermillion: held-out data (test split, validation) everywhere.
pub const HELD_OUT_COLOUR: RGBColor = RGBColor(213, 94, 0);
const INK: RGBColor = RGBColor(33, 33, 33);
const MUTED: RGBColor = RGBColor(96, 96, 96);
const GRID: RGBColor = RGBColor(225, 225, 225);
const GRID_BOLD: RGBColor = RGBColor(200, 200, 200);

const TITLE_SIZE: f64 = 24.0;
const AXIS_DESC_SIZE: f64 = 19.0;
const TICK_SIZE: f64 = 16.0;

type DrawResult = Result<(), Box<dyn StdError + Send + Sync>>;

/// An f64 axis whose labelled positions are given (digits at cell centres,
/// round shares on the colour scale). plotters' `WithKeyPoints` cannot take a
/// custom label formatter for f64 axes, this can.
#[derive(Clone)]
struct Ticks {
    inner: plotters::coord::types::RangedCoordf64,
    points: Vec<f64>,
}

fn ticks(range: std::ops::Range<f64>, points: Vec<f64>) -> Ticks {
    Ticks {
        inner: range.into(),
        points,
    }
}

impl Ranged for Ticks {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: plotters::coord::ranged1d::KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Only bold points: no light grid lines between the given ticks.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.points.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

/// Registers the embedded fonts with plotters (text measurement, SVG layout)
/// and parses them for [`CrispText`] (bitmap text), once per process.
fn fonts() -> Result<&'static Faces, Error> {
    static FACES: OnceLock<Option<Faces>> = OnceLock::new();
    FACES
        .get_or_init(|| {
            let registered = plotters::style::register_font(FONT, FontStyle::Normal, REGULAR)
                .is_ok()
                && plotters::style::register_font(FONT, FontStyle::Bold, BOLD).is_ok();
            if registered {
                Faces::new(REGULAR, BOLD)
            } else {
                None
            }
        })
        .as_ref()
        .ok_or_else(|| Error::Chart {
            chart: "fonts".into(),
            message: "the embedded DejaVu Sans font is unreadable".into(),
        })
}

fn font(size: f64) -> TextStyle<'static> {
    FontDesc::new(FontFamily::Name(FONT), size, FontStyle::Normal).color(&INK)
}

fn bold(size: f64) -> TextStyle<'static> {
    FontDesc::new(FontFamily::Name(FONT), size, FontStyle::Bold).color(&INK)
}

/// One chart rendered both ways.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// File stem, e.g. `confusion_test`.
    pub name: &'static str,
    /// What the chart shows (HTML alt text and caption).
    pub description: String,
    /// Pixel size.
    pub size: (u32, u32),
    /// PNG bytes.
    pub png: Vec<u8>,
    /// SVG document.
    pub svg: String,
}

/// Something drawable on any plotters backend.
trait Chart {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static;
}

fn render<C: Chart>(name: &'static str, description: String, chart: &C) -> Result<Rendered, Error> {
    let faces = fonts()?;
    let fail = |e: Box<dyn StdError + Send + Sync>| Error::Chart {
        chart: name.into(),
        message: e.to_string(),
    };
    let (w, h) = chart.size();
    let mut pixels = vec![255u8; w as usize * h as usize * 3];
    {
        let root = CrispText::new(BitMapBackend::with_buffer(&mut pixels, (w, h)), faces)
            .into_drawing_area();
        let drawn: DrawResult = (|| {
            root.fill(&WHITE)?;
            chart.draw(&root)?;
            root.present()?;
            Ok(())
        })();
        drawn.map_err(fail)?;
    }
    let mut png = Vec::new();
    {
        use image::ImageEncoder;
        image::codecs::png::PngEncoder::new(&mut png)
            .write_image(&pixels, w, h, image::ExtendedColorType::Rgb8)
            .map_err(|e| fail(Box::new(e)))?;
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        let drawn: DrawResult = (|| {
            root.fill(&WHITE)?;
            chart.draw(&root)?;
            root.present()?;
            Ok(())
        })();
        drawn.map_err(fail)?;
    }
    Ok(Rendered {
        name,
        description,
        size: (w, h),
        png,
        svg,
    })
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    // A comma before every digit whose distance from the end is a multiple of 3.
    let phase = digits.len() % 3;
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && i % 3 == phase {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The lower end of a score axis: 0 unless every value is high, then a round
/// value below the smallest so that differences near 1 stay visible.
fn score_floor(values: impl IntoIterator<Item = f64>) -> f64 {
    let min = values.into_iter().fold(1.0f64, f64::min);
    if min < 0.5 {
        0.0
    } else {
        (((min - 0.02) * 10.0).floor() / 10.0).clamp(0.0, 0.9)
    }
}

fn score_axis_desc(floor: f64) -> String {
    if floor > 0.0 {
        format!("score (axis starts at {floor:.1})")
    } else {
        "score".to_string()
    }
}

/// Hides tick labels above 1 (head-room for value labels is not a score).
fn score_tick(v: &f64) -> String {
    if *v > 1.0 + 1e-9 {
        String::new()
    } else {
        format!("{v:.2}")
    }
}

/// A one-line legend of colour swatches ending at `right`, centred on `y`.
fn legend_row<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    items: &[(&str, RGBColor)],
    right: i32,
    y: i32,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let style = font(TICK_SIZE).pos(Pos::new(HPos::Left, VPos::Center));
    let mut x = right;
    for (label, colour) in items.iter().rev() {
        let (w, _) = root.estimate_text_size(label, &style)?;
        x -= w as i32;
        root.draw(&Text::new(label.to_string(), (x, y), style.clone()))?;
        x -= 22;
        root.draw(&Rectangle::new(
            [(x, y - 8), (x + 16, y + 8)],
            colour.filled(),
        ))?;
        x -= 18;
    }
    Ok(())
}

fn capitalised(split: &str) -> String {
    let mut chars = split.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

// ---------------------------------------------------------------------------

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
            "{} split: confusion matrix ({} images)",
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

/// The confusion-matrix heatmap of one split (rows true, columns predicted).
pub fn confusion(name: &'static str, split: &str, matrix: &[Vec<u64>]) -> Result<Rendered, Error> {
    let total: u64 = matrix.iter().flatten().sum();
    let correct: u64 = matrix
        .iter()
        .enumerate()
        .map(|(i, row)| row.get(i).copied().unwrap_or(0))
        .sum();
    let description = format!(
        "Confusion matrix of the {split} split: {} of {} images on the diagonal; rows are true digits, \
         columns predicted digits, each cell shows its count and is coloured by its share of the row.",
        thousands(correct),
        thousands(total)
    );
    render(name, description, &ConfusionChart { split, matrix })
}

// ---------------------------------------------------------------------------

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

const TILE_SCALE: u32 = 4;
const TILE_IMAGE: u32 = 28 * TILE_SCALE;
const TILE_W: u32 = 140;
const TILE_H: u32 = 180;
const GRID_COLUMNS: u32 = 8;
const GRID_TOP: u32 = 60;
const GRID_SIDE: u32 = 20;

struct MistakesChart<'a> {
    mistakes: &'a [Mistake],
    total: usize,
    test_images: u64,
}

/// A 28x28 grey image scaled up `TILE_SCALE` times (nearest neighbour), as dark
/// ink on white paper, in RGB.
fn tile_pixels(pixels: &[u8]) -> Vec<u8> {
    let side = TILE_IMAGE as usize;
    let mut rgb = Vec::with_capacity(side * side * 3);
    for y in 0..side {
        for x in 0..side {
            let v = pixels
                .get((y / TILE_SCALE as usize) * 28 + x / TILE_SCALE as usize)
                .copied()
                .unwrap_or(0);
            let ink = 255 - v;
            rgb.extend_from_slice(&[ink, ink, ink]);
        }
    }
    rgb
}

impl Chart for MistakesChart<'_> {
    fn size(&self) -> (u32, u32) {
        let rows = (self.mistakes.len() as u32).div_ceil(GRID_COLUMNS).max(1);
        (
            GRID_COLUMNS * TILE_W + 2 * GRID_SIDE,
            GRID_TOP + rows * TILE_H + 10,
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let (width, _) = self.size();
        let centre = Pos::new(HPos::Center, VPos::Top);
        let title = if self.mistakes.len() < self.total {
            format!(
                "Test split: the {} most confident of {} mistakes ({} images)",
                self.mistakes.len(),
                thousands(self.total as u64),
                thousands(self.test_images)
            )
        } else {
            format!(
                "Test split: all {} mistakes, most confident first ({} images)",
                thousands(self.total as u64),
                thousands(self.test_images)
            )
        };
        root.draw(&Text::new(
            title,
            (width as i32 / 2, 14),
            bold(TITLE_SIZE).pos(centre),
        ))?;
        if self.mistakes.is_empty() {
            root.draw(&Text::new(
                "No test image was misclassified.",
                (width as i32 / 2, GRID_TOP as i32 + 50),
                font(AXIS_DESC_SIZE).pos(centre),
            ))?;
            return Ok(());
        }
        for (i, m) in self.mistakes.iter().enumerate() {
            let (col, row) = (i as u32 % GRID_COLUMNS, i as u32 / GRID_COLUMNS);
            let x0 = (GRID_SIDE + col * TILE_W) as i32;
            let y0 = (GRID_TOP + row * TILE_H) as i32;
            let image_x = x0 + (TILE_W - TILE_IMAGE) as i32 / 2;
            let element = BitMapElement::with_owned_buffer(
                (image_x, y0),
                (TILE_IMAGE, TILE_IMAGE),
                tile_pixels(&m.pixels),
            )
            .ok_or("digit image buffer has the wrong size")?;
            root.draw(&element)?;
            root.draw(&Rectangle::new(
                [
                    (image_x - 1, y0 - 1),
                    (image_x + TILE_IMAGE as i32, y0 + TILE_IMAGE as i32),
                ],
                GRID_BOLD.stroke_width(1),
            ))?;
            let text_x = x0 + TILE_W as i32 / 2;
            let mut y = y0 + TILE_IMAGE as i32 + 6;
            root.draw(&Text::new(
                format!("true {} \u{2192} pred {}", m.label, m.predicted),
                (text_x, y),
                bold(TICK_SIZE).pos(centre),
            ))?;
            y += 20;
            root.draw(&Text::new(
                format!("confidence {:.1}%", m.confidence * 100.0),
                (text_x, y),
                font(TICK_SIZE - 1.0).pos(centre),
            ))?;
            y += 18;
            root.draw(&Text::new(
                format!("test row {}", m.index),
                (text_x, y),
                font(TICK_SIZE - 2.0).color(&MUTED).pos(centre),
            ))?;
        }
        Ok(())
    }
}

/// A grid of the test split's most confident mistakes with true and predicted digits.
pub fn mistakes(
    name: &'static str,
    mistakes: &[Mistake],
    total: usize,
    test_images: u64,
) -> Result<Rendered, Error> {
    let description = if mistakes.is_empty() {
        "The test split has no misclassified images.".to_string()
    } else if mistakes.len() < total {
        format!(
            "The {} most confident mistakes on the test split (of {} misclassified), each with its true digit, \
             the predicted digit and the model's confidence.",
            mistakes.len(),
            thousands(total as u64)
        )
    } else {
        format!(
            "All {} misclassified test images, most confident first, each with its true digit, \
             the predicted digit and the model's confidence.",
            mistakes.len()
        )
    };
    render(
        name,
        description,
        &MistakesChart {
            mistakes,
            total,
            test_images,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn score_floor_zooms_only_when_every_value_is_high() {
        assert_eq!(score_floor([0.1, 0.99]), 0.0);
        assert_eq!(score_floor([0.99, 0.995]), 0.9);
        assert_eq!(score_floor([0.93, 0.99]), 0.9);
        assert_eq!(score_floor([0.91, 0.99]), 0.8);
        assert_eq!(score_floor([0.6]), 0.5);
    }

    #[test]
    fn cell_text_contrasts_with_the_cell() {
        assert_eq!(
            contrasting_text(confusion_colour(0.0)),
            RGBColor(255, 255, 255)
        );
        assert_eq!(contrasting_text(confusion_colour(1.0)), RGBColor(0, 0, 0));
    }

    #[test]
    fn tiles_are_ink_on_paper_and_scaled() {
        let mut pixels = vec![0u8; 784];
        pixels[0] = 255;
        let rgb = tile_pixels(&pixels);
        assert_eq!(rgb.len(), (TILE_IMAGE * TILE_IMAGE * 3) as usize);
        assert_eq!(&rgb[..3], &[0, 0, 0], "full ink is black");
        assert_eq!(
            rgb[(TILE_SCALE as usize - 1) * 3],
            0,
            "scaled by nearest neighbour"
        );
        assert_eq!(rgb[TILE_SCALE as usize * 3], 255, "background is white");
    }
}
