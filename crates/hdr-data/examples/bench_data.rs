//! Benchmarks the data stage against pandas on a 42,000-row Kaggle-sized CSV.
//!
//! `cargo run --release -p hdr-data --example bench_data [-- --runs N --rows N]`
//!
//! Builds `/tmp/hdr-bench/train-<rows>.csv` by repeating the rows of
//! data/mnist-sample.csv.gz, then times, each in a fresh child process,
//! `hdr_data::run` (load + validate + split + write parquet + summary) and
//! reports its peak resident memory; then times pandas `read_csv` of the same
//! file alone (import excluded) with the peers' Python; then `read_idx` on
//! Fashion-MNIST's 60,000 training images when present.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use hdr_common::RunOptions;
use hdr_data::{read_idx, run, Config, Paths};

const PYTHON: &str = "/work/main/.venv-peers/bin/python";
const FASHION: &str = "/usr/share/datasets/fashion-mnist";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--once") {
        return run_once(Path::new(&args[2]), Path::new(&args[3]));
    }
    let flag = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map_or(default, |v| v.parse().unwrap())
    };
    let runs = flag("--runs", 5);
    let rows = flag("--rows", 42_000);

    let csv = build_csv(rows);
    let size = std::fs::metadata(&csv).unwrap().len();
    println!(
        "file: {} ({rows} rows, {:.1} MB)",
        csv.display(),
        size as f64 / 1e6
    );
    let _ = std::fs::read(&csv).unwrap(); // warm the page cache for both contenders

    let artifacts = std::env::temp_dir().join("hdr-bench/artifacts");
    let mut stage = Vec::new();
    let mut cpu = Vec::new();
    let mut peak_kb = 0u64;
    let mut pandas = Vec::new();
    let mut pandas_cpu = Vec::new();
    // Alternate the contenders so that both see the same background load.
    for _ in 0..runs {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--once", csv.to_str().unwrap(), artifacts.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let numbers = parse_numbers(&out.stdout);
        stage.push(numbers[0]);
        peak_kb = peak_kb.max(numbers[1] as u64);
        cpu.push(numbers[2]);
        if let Some((wall, cpu_time)) = time_pandas(&csv) {
            pandas.push(wall);
            pandas_cpu.push(cpu_time);
        }
    }

    println!(
        "hdr data stage (load+validate+split+parquet): median {:.3} s, best {:.3} s over {runs} runs \
         (CPU median {:.3} s); peak RSS {:.0} MB = {:.2}x the CSV",
        median(&stage),
        best(&stage),
        median(&cpu),
        peak_kb as f64 / 1024.0,
        peak_kb as f64 * 1024.0 / size as f64
    );
    if !pandas.is_empty() {
        println!(
            "pandas read_csv alone:                       median {:.3} s, best {:.3} s over {runs} runs \
             (CPU median {:.3} s)",
            median(&pandas),
            best(&pandas),
            median(&pandas_cpu)
        );
        // Each pair ran back to back, under about the same background load.
        let pairwise: Vec<f64> = pandas.iter().zip(&stage).map(|(p, s)| p / s).collect();
        println!(
            "speed-up over pandas: {:.2}x (ratio of medians), {:.2}x (ratio of bests), \
             {:.2}x (median of back-to-back pairs; min {:.2}x, max {:.2}x)",
            median(&pandas) / median(&stage),
            best(&pandas) / best(&stage),
            median(&pairwise),
            best(&pairwise),
            pairwise.iter().copied().fold(0.0, f64::max)
        );
    }

    let images = Path::new(FASHION).join("train-images-idx3-ubyte.gz");
    let labels = Path::new(FASHION).join("train-labels-idx1-ubyte.gz");
    if images.exists() {
        let mut times = Vec::new();
        for _ in 0..runs {
            let start = Instant::now();
            let data = read_idx(&images, &labels).unwrap();
            times.push(start.elapsed().as_secs_f64());
            assert_eq!(data.len(), 60_000);
        }
        println!(
            "read_idx Fashion-MNIST train (60,000 images, gzip): median {:.3} s, best {:.3} s",
            median(&times),
            best(&times)
        );
    }
}

/// One pandas `read_csv` of `csv` in a fresh Python (import not timed): (wall, CPU) seconds.
fn time_pandas(csv: &Path) -> Option<(f64, f64)> {
    let script = format!(
        "import time, pandas as pd\n\
         w=time.perf_counter(); c=time.process_time()\n\
         df=pd.read_csv({csv:?})\n\
         print(time.perf_counter()-w, time.process_time()-c)",
        csv = csv.to_str().unwrap()
    );
    match Command::new(PYTHON).args(["-c", &script]).output() {
        Ok(out) if out.status.success() => {
            let numbers = parse_numbers(&out.stdout);
            Some((numbers[0], numbers[1]))
        }
        Ok(out) => {
            eprintln!("pandas failed: {}", String::from_utf8_lossy(&out.stderr));
            None
        }
        Err(e) => {
            eprintln!("cannot start {PYTHON}: {e}");
            None
        }
    }
}

fn parse_numbers(stdout: &[u8]) -> Vec<f64> {
    String::from_utf8_lossy(stdout)
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect()
}

/// Child mode: one stage run, printing `seconds peak_rss_kb`.
fn run_once(csv: &Path, artifacts: &Path) {
    let config = Config {
        source: csv.to_path_buf(),
        test_fraction: 0.2,
        seed: 42,
    };
    let start = Instant::now();
    run(
        &config,
        &Paths::under(artifacts),
        &RunOptions { quiet: true },
    )
    .unwrap();
    let seconds = start.elapsed().as_secs_f64();
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let peak_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    println!("{seconds} {peak_kb} {}", cpu_seconds());
}

/// User + system CPU seconds of this process so far (Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0 // utime, stime: fields 14 and 15 of stat
}

/// Writes (once) a CSV of `rows` rows cycling through the sample's rows.
fn build_csv(rows: usize) -> PathBuf {
    let dir = std::env::temp_dir().join("hdr-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("train-{rows}.csv"));
    if path.exists() {
        return path;
    }
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist-sample.csv.gz");
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(sample).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let body: Vec<&str> = lines.collect();
    let mut out = String::with_capacity(text.len() * (rows / body.len() + 1));
    out.push_str(header);
    out.push('\n');
    for line in body.iter().cycle().take(rows) {
        out.push_str(line);
        out.push('\n');
    }
    let tmp = path.with_extension("csv.tmp");
    std::fs::write(&tmp, out).unwrap();
    std::fs::rename(tmp, &path).unwrap();
    path
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn best(xs: &[f64]) -> f64 {
    xs.iter().copied().fold(f64::INFINITY, f64::min)
}
