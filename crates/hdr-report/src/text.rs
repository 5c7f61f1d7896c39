//! Crisp text for bitmap charts.
//!
//! plotters 0.3.7's ab_glyph text drops each glyph's left side bearing and
//! rounds the pen position down per glyph, which makes small labels look
//! unevenly spaced ("con fi dence"). [`CrispText`] wraps a backend and draws
//! text itself with ab_glyph: sub-pixel pen positions, bearings kept, kerning,
//! anti-aliased coverage blended into the target. Everything else, and the
//! text measurements plotters lays charts out with, is left to the wrapped
//! backend, so layouts are the same as without the wrapper.

use ab_glyph::{point, Font, FontRef, PxScale, ScaleFont};
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
    FontStyle,
};

/// The embedded DejaVu Sans faces.
pub struct Faces {
    regular: FontRef<'static>,
    bold: FontRef<'static>,
}

impl Faces {
    /// Parses the two faces; `None` if either is not a font.
    pub fn new(regular: &'static [u8], bold: &'static [u8]) -> Option<Self> {
        Some(Self {
            regular: FontRef::try_from_slice(regular).ok()?,
            bold: FontRef::try_from_slice(bold).ok()?,
        })
    }
}

/// A backend whose text is drawn by [`draw_glyphs`]; all else is delegated.
pub struct CrispText<'f, B> {
    inner: B,
    faces: &'f Faces,
}

impl<'f, B: DrawingBackend> CrispText<'f, B> {
    /// Wraps `inner`.
    pub fn new(inner: B, faces: &'f Faces) -> Self {
        Self { inner, faces }
    }
}

impl<B: DrawingBackend> DrawingBackend for CrispText<'_, B> {
    type ErrorType = B::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.fill_polygon(vert, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<B::ErrorType>> {
        self.inner.estimate_text_size(text, style)
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        let color = style.color();
        if color.alpha == 0.0 || text.is_empty() {
            return Ok(());
        }
        let face = match style.style() {
            FontStyle::Bold => &self.faces.bold,
            _ => &self.faces.regular,
        };
        let (w, h) = self.inner.get_size();
        let transform = style.transform();
        let anchor = style.anchor();
        let mut result = Ok(());
        draw_glyphs(
            face,
            style.size() as f32,
            text,
            anchor.h_pos,
            anchor.v_pos,
            |x, y, coverage| {
                if result.is_err() {
                    return;
                }
                let (x, y) = transform.transform(x, y);
                let (x, y) = (pos.0 + x, pos.1 + y);
                if x >= 0 && y >= 0 && (x as u32) < w && (y as u32) < h {
                    let alpha = color.alpha * coverage.min(1.0) as f64;
                    result = self.inner.draw_pixel(
                        (x, y),
                        BackendColor {
                            alpha,
                            rgb: color.rgb,
                        },
                    );
                }
            },
        );
        result
    }
}

/// Rasterises `text` in `face` at pixel scale `size` (plotters' font size:
/// ascent to descent), calling `plot(x, y, coverage)` relative to the anchor.
pub fn draw_glyphs(
    face: &FontRef<'static>,
    size: f32,
    text: &str,
    h: HPos,
    v: VPos,
    mut plot: impl FnMut(i32, i32, f32),
) {
    let scaled = face.as_scaled(PxScale::from(size));
    let mut width = 0.0f32;
    let mut previous = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = previous {
            width += scaled.kern(p, id);
        }
        width += scaled.h_advance(id);
        previous = Some(id);
    }
    let x0 = match h {
        HPos::Left => 0.0,
        HPos::Center => -width / 2.0,
        HPos::Right => -width,
    };
    // Baseline from the anchor: the top of the ascent, the middle of
    // ascent..descent, or the bottom of the descent.
    let (ascent, descent) = (scaled.ascent(), scaled.descent());
    let baseline = match v {
        VPos::Top => ascent,
        VPos::Center => (ascent + descent) / 2.0,
        VPos::Bottom => descent,
    };
    let mut caret = x0;
    let mut previous = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = previous {
            caret += scaled.kern(p, id);
        }
        let glyph = id.with_scale_and_position(scaled.scale(), point(caret, baseline));
        if let Some(outline) = scaled.outline_glyph(glyph) {
            let bounds = outline.px_bounds();
            let (left, top) = (bounds.min.x as i32, bounds.min.y as i32);
            outline.draw(|gx, gy, coverage| {
                if coverage > 0.0 {
                    plot(left + gx as i32, top + gy as i32, coverage);
                }
            });
        }
        caret += scaled.h_advance(id);
        previous = Some(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faces() -> Faces {
        Faces::new(
            include_bytes!("../assets/DejaVuSans.ttf"),
            include_bytes!("../assets/DejaVuSans-Bold.ttf"),
        )
        .unwrap()
    }

    fn ink_columns(text: &str, size: f32) -> Vec<bool> {
        let faces = faces();
        let mut columns = vec![false; 400];
        draw_glyphs(
            &faces.regular,
            size,
            text,
            HPos::Left,
            VPos::Top,
            |x, _, c| {
                if c > 0.3 && (0..400).contains(&x) {
                    columns[x as usize] = true;
                }
            },
        );
        columns
    }

    #[test]
    fn a_space_leaves_a_visible_gap() {
        // "test row": the gap at the space is wider than any gap inside a word.
        let columns = ink_columns("test row", 14.0);
        let mut gaps = Vec::new();
        let mut run = 0;
        let last_ink = columns.iter().rposition(|&c| c).unwrap();
        let first_ink = columns.iter().position(|&c| c).unwrap();
        for &c in &columns[first_ink..=last_ink] {
            if c {
                if run > 0 {
                    gaps.push(run);
                }
                run = 0;
            } else {
                run += 1;
            }
        }
        let widest = *gaps.iter().max().unwrap();
        assert!(widest >= 3, "space gap {widest}px in {gaps:?}");
        assert_eq!(gaps.iter().filter(|&&g| g == widest).count(), 1, "{gaps:?}");
    }

    #[test]
    fn anchors_place_text_around_the_point() {
        let faces = faces();
        let mut xs = (i32::MAX, i32::MIN);
        let mut ys = (i32::MAX, i32::MIN);
        draw_glyphs(
            &faces.bold,
            20.0,
            "88",
            HPos::Center,
            VPos::Center,
            |x, y, _| {
                xs = (xs.0.min(x), xs.1.max(x));
                ys = (ys.0.min(y), ys.1.max(y));
            },
        );
        assert!((xs.0 + xs.1).abs() <= 2, "centred horizontally: {xs:?}");
        assert!((ys.0 + ys.1).abs() <= 4, "centred vertically: {ys:?}");
    }
}
