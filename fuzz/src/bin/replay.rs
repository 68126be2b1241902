//! Runs the fuzz targets without libFuzzer, on stable Rust: a smoke test of
//! the seed corpora, and a way to reproduce a saved crash.
//!
//! ```text
//! cargo run --release --bin replay                          # every target, corpus/<target>/
//! cargo run --release --bin replay -- sse_parser            # one target
//! cargo run --release --bin replay -- sse_parser artifacts/sse_parser/crash-…   # given files or dirs
//! cargo run --release --bin replay -- --mutate 2000         # also 2000 cheap mutants per seed
//! ```
//!
//! Prints `replay: N passed, M failed` (inputs) and exits 1 when any input panics.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use warden_fuzz::{TARGETS, Target};

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut mutate = 0usize;
    if let Some(i) = args.iter().position(|a| a == "--mutate") {
        mutate = args.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(1000);
        args.drain(i..(i + 2).min(args.len()));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let selected: Vec<(&str, Target)> = match args.first() {
        Some(name) => match TARGETS.iter().find(|(n, _)| n == name) {
            Some(t) => vec![*t],
            None => {
                let names: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
                eprintln!("replay: unknown target {name:?} (targets: {})", names.join(", "));
                return ExitCode::from(2);
            }
        },
        None => TARGETS.to_vec(),
    };
    let paths: Vec<PathBuf> = args.iter().skip(1).map(PathBuf::from).collect();

    // Failures are reported below, with the input's path; keep the hook quiet.
    std::panic::set_hook(Box::new(|_| {}));
    let (mut passed, mut failed) = (0usize, 0usize);
    for (name, target) in selected {
        let inputs = if paths.is_empty() {
            files(&root.join("corpus").join(name))
        } else {
            paths.iter().flat_map(|p| files(p)).collect()
        };
        let (mut ok, mut bad) = (0usize, 0usize);
        for path in &inputs {
            let Ok(seed) = std::fs::read(path) else {
                eprintln!("replay: {name}: cannot read {}", path.display());
                bad += 1;
                continue;
            };
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed.len() as u64);
            for round in 0..=mutate {
                let input = if round == 0 { seed.clone() } else { rng.mutate(&seed) };
                match catch_unwind(AssertUnwindSafe(|| target(&input))) {
                    Ok(()) => ok += 1,
                    Err(e) => {
                        bad += 1;
                        let msg = e
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()));
                        eprintln!(
                            "replay: {name}: {} (mutant {round}) panicked: {}",
                            path.display(),
                            msg.unwrap_or_default()
                        );
                        eprintln!("replay:   input {:?}", String::from_utf8_lossy(&input));
                    }
                }
            }
        }
        println!("replay: {name}: {} seed file(s), {ok} input(s) ok, {bad} failed", inputs.len());
        passed += ok;
        failed += bad;
    }
    println!("replay: {passed} passed, {failed} failed");
    if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// The files under `p` (or `p` itself), sorted.
fn files(p: &Path) -> Vec<PathBuf> {
    if p.is_file() {
        return vec![p.to_path_buf()];
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(p)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// xorshift64*, enough to derive deterministic mutants from a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }

    /// One to four edits: flip a bit, set an interesting byte, insert, delete, truncate, duplicate a slice.
    fn mutate(&mut self, seed: &[u8]) -> Vec<u8> {
        const BYTES: &[u8] = b"\0\n\r :\"{}[]$\\=?-w.\xff\x7f0A";
        let mut v = seed.to_vec();
        for _ in 0..=self.below(4) {
            let at = self.below(v.len() + 1);
            match self.below(6) {
                0 if at < v.len() => v[at] ^= 1 << self.below(8),
                1 if at < v.len() => v[at] = BYTES[self.below(BYTES.len())],
                2 => v.insert(at, BYTES[self.below(BYTES.len())]),
                3 if at < v.len() => {
                    v.remove(at);
                }
                4 => v.truncate(at),
                _ => {
                    let from = self.below(v.len() + 1);
                    let len = self.below(v.len() - from + 1).min(64);
                    let piece = v[from..from + len].to_vec();
                    v.splice(at..at, piece);
                }
            }
        }
        v
    }
}
