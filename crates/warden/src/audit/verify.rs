//! Checking an audit file: every record's hash, `seq` continuity and `prev`
//! links, stopping at the first problem.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::AuditError;
use super::chain::{self, ChainFields, LineCheck};

/// The result of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Intact, correctly chained records before the first problem (all of
    /// them when `ok`).
    pub records: u64,
    /// Whether the whole file is intact.
    pub ok: bool,
    /// The first problem: line number, `seq` and what is wrong.
    pub problem: Option<String>,
    /// The hash of the last intact record ([`GENESIS_PREV`](super::GENESIS_PREV)
    /// when there is none). Compare it with an externally anchored value to
    /// detect truncation of the file's tail.
    pub last_hash: String,
}

/// Reads `path` and checks the chain. An `Err` means the file could not be
/// read; a damaged chain is an `Ok` report with `ok: false`.
pub fn verify(path: impl AsRef<Path>) -> Result<VerifyReport, AuditError> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| AuditError::io(path, e))?;
    let mut lines = Lines { reader: BufReader::new(file), number: 0 };
    let mut report = VerifyReport { records: 0, ok: true, problem: None, last_hash: chain::GENESIS_PREV.to_string() };
    while let Some((n, line, complete)) = lines.next_line().map_err(|e| AuditError::io(path, e))? {
        if let Some(problem) =
            check(&mut report, n, &line, complete, &mut lines).map_err(|e| AuditError::io(path, e))?
        {
            report.ok = false;
            report.problem = Some(problem);
            break;
        }
    }
    Ok(report)
}

/// Checks line `n` against the chain so far; on success advances `report`.
fn check(
    report: &mut VerifyReport,
    n: u64,
    line: &[u8],
    complete: bool,
    rest: &mut Lines,
) -> std::io::Result<Option<String>> {
    if !complete {
        return Ok(Some(format!("line {n}: truncated record (the file ends in an incomplete line)")));
    }
    if line.is_empty() {
        return Ok(Some(format!("line {n}: empty line (records must be contiguous)")));
    }
    let fields: ChainFields = match chain::check_line(line) {
        LineCheck::Sound(f) => f,
        LineCheck::HashMismatch(f) => {
            return Ok(Some(format!(
                "line {n} (seq {}): record was edited: its content does not match its hash",
                f.seq
            )));
        }
        LineCheck::Malformed(why) => return Ok(Some(format!("line {n}: not a valid audit record: {why}"))),
    };
    let expected = report.records;
    let seq = fields.seq;
    if seq < expected {
        return Ok(Some(format!("line {n} (seq {seq}): record reordered or duplicated: expected seq {expected}")));
    }
    if seq > expected {
        return Ok(Some(match rest.find_seq(expected)? {
            Some(at) => format!(
                "line {n} (seq {seq}): records reordered: expected seq {expected}, which appears later at line {at}"
            ),
            None if seq - expected == 1 => {
                format!("line {n} (seq {seq}): record deleted: seq {expected} is missing")
            }
            None => format!("line {n} (seq {seq}): records deleted: seq {expected} to {} are missing", seq - 1),
        }));
    }
    if fields.prev != report.last_hash {
        let before = if expected == 0 {
            "the first record's prev is not the genesis value (64 zeros)".to_string()
        } else {
            format!("prev does not match the hash of seq {}: a record was replaced, or this one forged", expected - 1)
        };
        return Ok(Some(format!("line {n} (seq {seq}): {before}")));
    }
    report.records += 1;
    report.last_hash = fields.hash;
    Ok(None)
}

/// Numbered lines of the file, as bytes.
struct Lines {
    reader: BufReader<File>,
    number: u64,
}

impl Lines {
    /// The next line (1-based number, bytes without `\n`, and whether it
    /// ended in `\n`).
    fn next_line(&mut self) -> std::io::Result<Option<(u64, Vec<u8>, bool)>> {
        let mut buf = Vec::new();
        if self.reader.read_until(b'\n', &mut buf)? == 0 {
            return Ok(None);
        }
        self.number += 1;
        let complete = buf.last() == Some(&b'\n');
        if complete {
            buf.pop();
        }
        Ok(Some((self.number, buf, complete)))
    }

    /// The line number of the first remaining record with `seq`, if any.
    fn find_seq(&mut self, seq: u64) -> std::io::Result<Option<u64>> {
        #[derive(serde::Deserialize)]
        struct Seq {
            seq: u64,
        }
        while let Some((n, line, _)) = self.next_line()? {
            if serde_json::from_slice::<Seq>(&line).is_ok_and(|s| s.seq == seq) {
                return Ok(Some(n));
            }
        }
        Ok(None)
    }
}
