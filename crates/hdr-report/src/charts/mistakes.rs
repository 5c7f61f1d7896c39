//! A grid of the test images the model got wrong.

use super::*;

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
