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

mod class_f1;
mod confusion;
mod curves;
mod mistakes;
mod runs;
mod scores;
use crate::text::{CrispText, Faces};
use crate::Error;
pub use class_f1::class_f1;
pub use confusion::confusion;
pub use curves::curves;
pub use mistakes::mistakes;
pub use runs::runs;
pub use scores::scores;

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
    pub name: String,
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

fn render<C: Chart>(name: &str, description: String, chart: &C) -> Result<Rendered, Error> {
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
        name: name.to_string(),
        description,
        size: (w, h),
        png,
        svg,
    })
}

pub(crate) use hdr_common::thousands;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_floor_zooms_only_when_every_value_is_high() {
        assert_eq!(score_floor([0.1, 0.99]), 0.0);
        assert_eq!(score_floor([0.99, 0.995]), 0.9);
        assert_eq!(score_floor([0.93, 0.99]), 0.9);
        assert_eq!(score_floor([0.91, 0.99]), 0.8);
        assert_eq!(score_floor([0.6]), 0.5);
    }
}
