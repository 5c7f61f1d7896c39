//! Everything that can go wrong in the data stage, each naming what and where:
//! the file, the line (1-based, the header being line 1) and column or the
//! config key, and the value; the underlying error stays its `source()`.

use std::fmt;
use std::path::PathBuf;

use polars::prelude::PolarsError;

/// The header every message about a CSV header suggests.
pub(crate) const EXPECTED_HEADER: &str = "`label,pixel0,...,pixel783` (or `pixel1..pixel784`)";

/// Everything that can go wrong in the data stage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad configuration value.
    #[error(transparent)]
    Config(#[from] hdr_common::ConfigError),
    /// A split artifact could not be read back.
    #[error(transparent)]
    Artifact(#[from] hdr_artifacts::Error),
    /// A stop was requested (Ctrl-C, SIGTERM); nothing was written.
    #[error(transparent)]
    Interrupted(#[from] hdr_common::Interrupted),

    // ---- reading a source file ----
    /// A source file that could not be read (missing, no permission).
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file whose name ends in `.gz` but whose bytes are not gzip data.
    #[error("{}: the name ends in .gz but the file is not gzip data", path.display())]
    NotGzip {
        /// The file.
        path: PathBuf,
    },
    /// Gzip data that is damaged or truncated.
    #[error("{}: corrupt gzip data: {source}", path.display())]
    CorruptGzip {
        /// The file.
        path: PathBuf,
        /// The decompressor's complaint.
        #[source]
        source: std::io::Error,
    },
    /// The source file could not be read again to hash it.
    #[error("{}: {source}", path.display())]
    Hash {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    // ---- a CSV's header (line 1) ----
    /// A CSV with nothing in it, not even a header line.
    #[error("{}: the file is empty; expected a header line {EXPECTED_HEADER}", path.display())]
    EmptyFile {
        /// The file.
        path: PathBuf,
    },
    /// A first line that is not UTF-8 text (a binary file, say).
    #[error(
        "{}: line 1: the header is not text; is this a CSV file? Expected {EXPECTED_HEADER}",
        path.display()
    )]
    HeaderNotText {
        /// The file.
        path: PathBuf,
        /// Where the bytes stop being UTF-8.
        #[source]
        source: std::str::Utf8Error,
    },
    /// A column name that the header line repeats.
    #[error(
        "{}: line 1, column {column} (`{name}`): duplicate column name; `{name}` is also column {first}",
        path.display()
    )]
    DuplicateColumn {
        /// The file.
        path: PathBuf,
        /// The repeated column, 1-based.
        column: usize,
        /// Its name.
        name: String,
        /// The column (1-based) that had the name first.
        first: usize,
    },
    /// A column that is neither `label` nor a `pixelN`.
    #[error(
        "{}: line 1, column {column} (`{name}`): unexpected column; expected {EXPECTED_HEADER}",
        path.display()
    )]
    UnexpectedColumn {
        /// The file.
        path: PathBuf,
        /// The column, 1-based.
        column: usize,
        /// Its name.
        name: String,
    },
    /// A header without the `label` column where labels are required.
    #[error("{}: line 1: no `label` column; expected {EXPECTED_HEADER}", path.display())]
    NoLabelColumn {
        /// The file.
        path: PathBuf,
    },
    /// Pixel columns that are not `pixel0..pixel783` (or `pixel1..pixel784`):
    /// too few or too many, numbered outside the range, or one missing.
    #[error(
        "{}: line 1: {}; expected {EXPECTED_HEADER}",
        path.display(),
        pixel_header_problems(*found, *outside, *missing, *base)
    )]
    PixelColumns {
        /// The file.
        path: PathBuf,
        /// How many `pixelN` columns the header has.
        found: usize,
        /// The first pixel column numbered outside the range: its position
        /// (1-based) and its number `N`.
        outside: Option<(usize, u32)>,
        /// The first pixel number of the range that no column has.
        missing: Option<u32>,
        /// The number of the first pixel: 0 (`pixel0..pixel783`) or 1.
        base: u32,
    },
    /// A header line and no rows after it.
    #[error("{}: no data rows: line 1 is the header and nothing follows it", path.display())]
    NoDataRows {
        /// The file.
        path: PathBuf,
    },

    // ---- a CSV's rows ----
    /// A row the CSV reader cannot split into cells.
    #[error("{}: line {line}: unreadable CSV: {source}", path.display())]
    UnreadableCsv {
        /// The file.
        path: PathBuf,
        /// The line, 1-based (the header is line 1).
        line: u64,
        /// The CSV reader's complaint.
        #[source]
        source: csv::Error,
    },
    /// A row with fewer cells than the header has columns.
    #[error(
        "{}: line {line}: the row ends after {cells} of {width} cells (column `{missing}` is missing); \
         is the line truncated?",
        path.display()
    )]
    TruncatedRow {
        /// The file.
        path: PathBuf,
        /// The line, 1-based (the header is line 1).
        line: u64,
        /// Cells in the row.
        cells: usize,
        /// Columns in the header.
        width: usize,
        /// The first column without a cell.
        missing: String,
    },
    /// A row with more cells than the header has columns.
    #[error(
        "{}: line {line}: the row has {cells} cells but the header names {width} columns",
        path.display()
    )]
    LongRow {
        /// The file.
        path: PathBuf,
        /// The line, 1-based (the header is line 1).
        line: u64,
        /// Cells in the row.
        cells: usize,
        /// Columns in the header.
        width: usize,
    },
    /// A cell of the `label` column that is not a label 0..=9.
    #[error("{}: line {line}, column `label`: {problem}", path.display())]
    BadLabel {
        /// The file.
        path: PathBuf,
        /// The line, 1-based (the header is line 1).
        line: u64,
        /// What is wrong with the cell (it holds the cell's text).
        #[source]
        problem: CellError,
    },
    /// A cell of a pixel column that is not a grey level 0..=255.
    #[error("{}: line {line}, column `{column}`: {problem}", path.display())]
    BadPixel {
        /// The file.
        path: PathBuf,
        /// The line, 1-based (the header is line 1).
        line: u64,
        /// The column's name as the header writes it (`pixel10`).
        column: String,
        /// What is wrong with the cell (it holds the cell's text).
        #[source]
        problem: CellError,
    },
    /// Polars could not parse the body, and the cell-by-cell pass found no
    /// bad cell to name instead.
    #[error("{}: could not parse the CSV: {source}", path.display())]
    ParseCsv {
        /// The file.
        path: PathBuf,
        /// Polars' complaint.
        #[source]
        source: PolarsError,
    },
    /// Empty cells that the cell-by-cell pass could not place.
    #[error("{}: some cells are empty or missing", path.display())]
    EmptyCells {
        /// The file.
        path: PathBuf,
    },
    /// A label outside 0..=9 that the cell-by-cell pass could not place.
    #[error("{}: a label is outside 0..=9", path.display())]
    LabelOutOfRange {
        /// The file.
        path: PathBuf,
    },
    /// The parsed `label` column could not be read as bytes.
    #[error("{}: column `label`: {source}", path.display())]
    LabelValues {
        /// The file.
        path: PathBuf,
        /// Polars' complaint.
        #[source]
        source: PolarsError,
    },
    /// The parsed pixel columns could not be read as images.
    #[error("{}: pixel columns: {source}", path.display())]
    PixelValues {
        /// The file.
        path: PathBuf,
        /// Polars' complaint.
        #[source]
        source: PolarsError,
    },
    /// The columns of a source (CSV or IDX) could not be put in the order
    /// `label, pixel0..pixel783`.
    #[error("{}: could not assemble the columns: {source}", path.display())]
    Columns {
        /// The file.
        path: PathBuf,
        /// Polars' complaint.
        #[source]
        source: PolarsError,
    },

    // ---- MNIST IDX files ----
    /// An IDX file shorter than its header.
    #[error(
        "{}: only {bytes} bytes; too short for an MNIST IDX {kind} file",
        path.display()
    )]
    IdxTooShort {
        /// The file.
        path: PathBuf,
        /// Its length in bytes (decompressed).
        bytes: usize,
        /// What it should hold.
        kind: IdxFile,
    },
    /// An IDX file whose magic number is not that of its kind (the other
    /// kind's says the two files are swapped).
    #[error(
        "{}: magic number {found:#010x}, expected {:#010x} for an MNIST IDX {kind} file{}",
        path.display(),
        kind.magic(),
        swapped_hint(*found)
    )]
    IdxMagic {
        /// The file.
        path: PathBuf,
        /// What it should hold.
        kind: IdxFile,
        /// The magic number it starts with.
        found: u32,
    },
    /// An IDX images file of images other than 28x28.
    #[error("{}: images are {rows}x{cols}, expected 28x28", path.display())]
    IdxImageSize {
        /// The file.
        path: PathBuf,
        /// Rows per image, as its header says.
        rows: usize,
        /// Columns per image, as its header says.
        cols: usize,
    },
    /// An IDX images file whose length does not match its header's count.
    #[error(
        "{}: the header promises {count} images of 784 bytes but the file holds {pixel_bytes} bytes of pixels",
        path.display()
    )]
    IdxImageBytes {
        /// The file.
        path: PathBuf,
        /// Images its header promises.
        count: usize,
        /// Bytes after its 16-byte header.
        pixel_bytes: usize,
    },
    /// An IDX pair whose labels file and images file count different items.
    #[error(
        "{}: {label_count} labels, but {} holds {image_count} images",
        path.display(),
        images.display()
    )]
    IdxCounts {
        /// The labels file.
        path: PathBuf,
        /// The images file.
        images: PathBuf,
        /// Labels the labels file's header promises.
        label_count: usize,
        /// Images the images file holds.
        image_count: usize,
    },
    /// An IDX labels file whose length does not match its header's count.
    #[error(
        "{}: the header promises {count} labels ({} bytes) but the file has {bytes} bytes",
        path.display(),
        count + 8
    )]
    IdxLabelBytes {
        /// The file.
        path: PathBuf,
        /// Labels its header promises.
        count: usize,
        /// Its length in bytes (decompressed).
        bytes: usize,
    },
    /// An IDX label outside 0..=9.
    #[error(
        "{}: label {label} of item {item} (byte {}) is outside 0..=9",
        path.display(),
        item + 7
    )]
    IdxLabel {
        /// The labels file.
        path: PathBuf,
        /// The item, 1-based (at byte `item + 7` of the file).
        item: usize,
        /// The label found.
        label: u8,
    },

    // ---- writing ----
    /// A dataset to write whose pixels do not make whole 784-pixel images.
    #[error(
        "{}: {labels} labels but {pixels} pixels (expected 784 per image)",
        path.display()
    )]
    PixelCount {
        /// The file that was to be written.
        path: PathBuf,
        /// Labels in the dataset.
        labels: usize,
        /// Pixels in the dataset.
        pixels: usize,
    },
    /// A dataset to write with a label outside 0..=9.
    #[error("{}: image {image} has label {label}, outside 0..=9", path.display())]
    ImageLabel {
        /// The file that was to be written.
        path: PathBuf,
        /// The image, 1-based.
        image: usize,
        /// Its label.
        label: u8,
    },
    /// An output file could not be written.
    #[error("{}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The written files could not be moved into place.
    #[error("could not move the data artifacts into {}: {source}", dir.display())]
    MoveIntoPlace {
        /// The data stage's folder (`artifacts/data`).
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    // ---- the stage ----
    /// `data.test_source` could not be loaded.
    #[error("data.test_source: {source}")]
    TestSource {
        /// Why (names the file and position).
        #[source]
        source: Box<Error>,
    },
    /// `data.user_samples` could not be loaded.
    #[error("data.user_samples: {source}")]
    UserSamples {
        /// Why (names the file and position).
        #[source]
        source: Box<Error>,
    },
    /// `data.user_samples`' columns differ from those of `data.source`.
    #[error(
        "data.user_samples: {}: its columns do not match those of data.source {}",
        path.display(),
        data_source.display()
    )]
    UserSamplesColumns {
        /// `data.user_samples`.
        path: PathBuf,
        /// `data.source`.
        data_source: PathBuf,
    },
    /// One of `data.extra_test_sources` could not be loaded.
    #[error("data.extra_test_sources: {source}")]
    ExtraTestSource {
        /// Why (names the file or folder and position).
        #[source]
        source: Box<Error>,
    },
    /// One of `data.extra_test_sources` has columns other than `data.source`'s.
    #[error(
        "data.extra_test_sources: {}: its columns do not match those of data.source {}",
        path.display(),
        data_source.display()
    )]
    ExtraTestSourceColumns {
        /// The extra test source.
        path: PathBuf,
        /// `data.source`.
        data_source: PathBuf,
    },

    // ---- reading a folder of labelled images ----
    /// An image in a labelled folder whose label cannot be told from where it is.
    #[error(
        "{}: cannot tell which digit this image shows: put it in a folder named by its digit \
         (DIR/7/{name}) or end its name with _ and the digit (DIR/{stem}_7.{extension})",
        path.display(),
        name = path.file_name().unwrap_or_default().to_string_lossy(),
        stem = path.file_stem().unwrap_or_default().to_string_lossy(),
        extension = path.extension().unwrap_or_default().to_string_lossy()
    )]
    UnlabelledImage {
        /// The image.
        path: PathBuf,
    },
    /// A labelled folder with no PNG, JPEG or BMP image in it.
    #[error(
        "{}: no PNG, JPEG or BMP images in this folder (expected DIR/<digit>/*.png or DIR/*_<digit>.png)",
        path.display()
    )]
    NoImages {
        /// The folder.
        path: PathBuf,
    },
    /// An image in a labelled folder that cannot be read or holds no digit
    /// (the message names the file).
    #[error(transparent)]
    Image(#[from] hdr_image::ImageError),
    /// `data.test_source`'s columns differ from those of `data.source`.
    #[error(
        "data.test_source: {}: its columns do not match those of data.source {}",
        path.display(),
        data_source.display()
    )]
    TestSourceColumns {
        /// `data.test_source`.
        path: PathBuf,
        /// `data.source`.
        data_source: PathBuf,
    },
    /// `data.test_fraction` leaves one side of the split without rows.
    #[error(
        "{}: the {split} split would be empty: {rows} rows with data.test_fraction = {test_fraction} \
         leave no rows for it; use more data or change data.test_fraction",
        path.display()
    )]
    EmptySplit {
        /// `data.source`.
        path: PathBuf,
        /// The empty side: `train` or `test`.
        split: &'static str,
        /// Rows in the source.
        rows: usize,
        /// `data.test_fraction`.
        test_fraction: f64,
    },
    /// A worker thread panicked (a bug).
    #[error("the {thread} thread panicked")]
    Panicked {
        /// What the thread did: `IDX labels`, `hashing`, `parquet encoding`.
        thread: &'static str,
    },
}

/// What is wrong with one cell of a CSV row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CellError {
    /// Nothing (or only spaces) in the cell.
    #[error("empty cell; every {kind} must be a whole number 0..={}", kind.max())]
    Empty {
        /// Label or pixel.
        kind: CellKind,
    },
    /// A whole number above the maximum.
    #[error("{kind} {text} is outside 0..={}", kind.max())]
    OutOfRange {
        /// Label or pixel.
        kind: CellKind,
        /// The cell as written.
        text: String,
    },
    /// A whole number followed by spaces.
    #[error("`{text}` has trailing spaces; write the number alone")]
    TrailingSpaces {
        /// Label or pixel.
        kind: CellKind,
        /// The cell as written.
        text: String,
    },
    /// A negative number.
    #[error("{kind} {text} is negative; it must lie in 0..={}", kind.max())]
    Negative {
        /// Label or pixel.
        kind: CellKind,
        /// The cell as written.
        text: String,
    },
    /// A number with a fraction or an exponent.
    #[error("{kind} `{text}` is not a whole number; it must be an integer 0..={}", kind.max())]
    NotWhole {
        /// Label or pixel.
        kind: CellKind,
        /// The cell as written.
        text: String,
    },
    /// Not a number at all.
    #[error("`{text}` is not a number; every {kind} must be a whole number 0..={}", kind.max())]
    NotANumber {
        /// Label or pixel.
        kind: CellKind,
        /// The cell as written.
        text: String,
    },
}

/// Which kind of cell a [`CellError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellKind {
    /// A `label` cell: 0..=9.
    Label,
    /// A pixel cell: a grey level 0..=255.
    Pixel,
}

impl CellKind {
    /// The largest value such a cell may hold.
    pub fn max(self) -> u64 {
        match self {
            CellKind::Label => 9,
            CellKind::Pixel => 255,
        }
    }
}

impl fmt::Display for CellKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CellKind::Label => "label",
            CellKind::Pixel => "pixel value",
        })
    }
}

/// Which file of an MNIST IDX pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdxFile {
    /// The images (`…images-idx3-ubyte`): unsigned bytes, 3 dimensions.
    Images,
    /// The labels (`…labels-idx1-ubyte`): unsigned bytes, 1 dimension.
    Labels,
}

impl IdxFile {
    /// The magic number such a file starts with.
    pub fn magic(self) -> u32 {
        match self {
            IdxFile::Images => 0x0000_0803,
            IdxFile::Labels => 0x0000_0801,
        }
    }
}

impl fmt::Display for IdxFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdxFile::Images => "images",
            IdxFile::Labels => "labels",
        })
    }
}

/// What [`Error::IdxMagic`] adds when the magic number is the other kind's.
fn swapped_hint(found: u32) -> &'static str {
    if found == IdxFile::Images.magic() {
        " (this is an images file; are the two files swapped?)"
    } else if found == IdxFile::Labels.magic() {
        " (this is a labels file; are the two files swapped?)"
    } else {
        ""
    }
}

/// The problems [`Error::PixelColumns`] lists, joined by `; `.
fn pixel_header_problems(
    found: usize,
    outside: Option<(usize, u32)>,
    missing: Option<u32>,
    base: u32,
) -> String {
    let last = base + hdr_artifacts::IMAGE_PIXELS as u32 - 1;
    let mut problems = Vec::new();
    if found != hdr_artifacts::IMAGE_PIXELS {
        problems.push(format!(
            "found {found} pixel columns but a 28x28 image needs 784"
        ));
    }
    if let Some((column, number)) = outside {
        problems.push(format!(
            "column {column} (`pixel{number}`) is outside pixel{base}..pixel{last}"
        ));
    }
    if let Some(missing) = missing {
        problems.push(format!("`pixel{missing}` is missing"));
    }
    problems.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idx_magic_messages_say_when_the_files_are_swapped() {
        let swapped = Error::IdxMagic {
            path: PathBuf::from("x-labels-idx1-ubyte"),
            kind: IdxFile::Labels,
            found: IdxFile::Images.magic(),
        };
        assert_eq!(
            swapped.to_string(),
            "x-labels-idx1-ubyte: magic number 0x00000803, expected 0x00000801 for an MNIST IDX \
             labels file (this is an images file; are the two files swapped?)"
        );
        let other = Error::IdxMagic {
            path: PathBuf::from("f"),
            kind: IdxFile::Images,
            found: 0x1234,
        };
        assert_eq!(
            other.to_string(),
            "f: magic number 0x00001234, expected 0x00000803 for an MNIST IDX images file"
        );
    }

    #[test]
    fn pixel_header_messages_list_every_problem() {
        let err = Error::PixelColumns {
            path: PathBuf::from("f.csv"),
            found: 786,
            outside: Some((786, 784)),
            missing: None,
            base: 0,
        };
        assert_eq!(
            err.to_string(),
            format!(
                "f.csv: line 1: found 786 pixel columns but a 28x28 image needs 784; column 786 \
                 (`pixel784`) is outside pixel0..pixel783; expected {EXPECTED_HEADER}"
            )
        );
    }

    #[test]
    fn causes_stay_reachable_and_inside_the_message() {
        use std::error::Error as _;
        let err = Error::Read {
            path: PathBuf::from("a.csv"),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "gone"),
        };
        assert_eq!(err.to_string(), "cannot read a.csv: gone");
        let cause = err.source().expect("the io::Error is the source");
        assert!(err.to_string().contains(&cause.to_string()));
        let cell = Error::BadLabel {
            path: PathBuf::from("a.csv"),
            line: 5,
            problem: CellError::OutOfRange {
                kind: CellKind::Label,
                text: "10".into(),
            },
        };
        assert_eq!(
            cell.to_string(),
            "a.csv: line 5, column `label`: label 10 is outside 0..=9"
        );
        assert_eq!(
            hdr_common::error_lines(&cell),
            ["error: a.csv: line 5, column `label`: label 10 is outside 0..=9"]
        );
    }
}
