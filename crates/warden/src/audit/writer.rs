//! [`AuditLog`]: appends records to the chained file.
//!
//! Appending only serializes and hashes the record and queues its line in
//! memory (under a short lock, no I/O), so it is cheap to call from any task.
//! Queued lines are written with one `write_all` per flush and `fsync`ed
//! (`sync_data`): by a background task every [`AuditOptions::flush_interval`]
//! or as soon as [`AuditOptions::flush_every`] records are queued, on
//! [`AuditLog::flush`], and when the last handle is dropped. Without a Tokio
//! runtime at open time there is no background task and the appender flushes
//! inline every `flush_every` records.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::AuditError;
use super::chain::{self, LineCheck};
use super::record::AuditRecord;

/// When queued records reach the disk.
#[derive(Debug, Clone, Copy)]
pub struct AuditOptions {
    /// Flush once this many records are queued.
    pub flush_every: usize,
    /// Flush at least this often while records are queued.
    pub flush_interval: Duration,
    /// Queued bytes above which the appender flushes inline (back-pressure
    /// when the disk is slower than the callers).
    pub max_queued_bytes: usize,
}

impl Default for AuditOptions {
    fn default() -> AuditOptions {
        AuditOptions { flush_every: 64, flush_interval: Duration::from_millis(100), max_queued_bytes: 4 << 20 }
    }
}

/// Longest last line [`AuditLog::open`] reads back to continue the chain.
const MAX_LINE: u64 = 16 << 20;

/// A hash-chained JSON-lines audit file, open for appending. Cheap to clone;
/// all clones append to the same chain.
#[derive(Debug, Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    options: AuditOptions,
    /// Held while writing; taken *before* `queue`, so queued lines reach the
    /// file in chain order.
    file: Mutex<File>,
    queue: Mutex<Queue>,
    /// Wakes the background flusher (shared with it, so that it does not
    /// keep the log alive while waiting).
    wake: Arc<Notify>,
    background: bool,
}

#[derive(Debug)]
struct Queue {
    next_seq: u64,
    prev: String,
    lines: Vec<u8>,
    records: usize,
    poisoned: Option<String>,
}

impl AuditLog {
    /// Opens (or creates) `path` with default [`AuditOptions`].
    pub fn open(path: impl AsRef<Path>) -> Result<AuditLog, AuditError> {
        AuditLog::open_with(path, AuditOptions::default())
    }

    /// Opens (or creates) `path` for appending and continues the chain from
    /// its last record. Refuses ([`AuditError::CorruptTail`]) when the file
    /// does not end in a complete, self-consistent record, rather than start
    /// a second chain in the same file. Only the last record is checked; run
    /// [`verify`](super::verify()) for the whole file.
    pub fn open_with(path: impl AsRef<Path>, options: AuditOptions) -> Result<AuditLog, AuditError> {
        let path = path.as_ref().to_path_buf();
        let mut opts = OpenOptions::new();
        opts.read(true).append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o640);
        }
        let mut file = opts.open(&path).map_err(|e| AuditError::io(&path, e))?;
        let (next_seq, prev) = chain_tail(&mut file, &path)?;
        let runtime = tokio::runtime::Handle::try_current().ok();
        let wake = Arc::new(Notify::new());
        let inner = Arc::new(Inner {
            path,
            options,
            file: Mutex::new(file),
            queue: Mutex::new(Queue { next_seq, prev, lines: Vec::new(), records: 0, poisoned: None }),
            wake: Arc::clone(&wake),
            background: runtime.is_some(),
        });
        if let Some(rt) = runtime {
            rt.spawn(flush_periodically(Arc::downgrade(&inner), wake, options.flush_interval));
        }
        Ok(AuditLog { inner })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Fills `seq`, `prev` and `hash` of `record`, and queues its line.
    /// The record is on disk after the next flush.
    pub fn append(&self, mut record: AuditRecord) -> Result<(), AuditError> {
        let inner = &self.inner;
        let (wake, flush_inline) = {
            let mut q = inner.queue.lock();
            if let Some(detail) = &q.poisoned {
                return Err(AuditError::Poisoned { path: inner.path.clone(), detail: detail.clone() });
            }
            record.seq = q.next_seq;
            record.prev = q.prev.clone();
            record.hash = None;
            let canonical = serde_json::to_vec(&record)?;
            let Some((line, hash)) = chain::seal(&canonical) else {
                return Err(AuditError::Serialize(serde::ser::Error::custom("record is not a JSON object")));
            };
            q.lines.extend_from_slice(&line);
            q.lines.push(b'\n');
            q.records += 1;
            q.next_seq += 1;
            q.prev = hash;
            let due = q.records >= inner.options.flush_every;
            (due, (due && !inner.background) || q.lines.len() > inner.options.max_queued_bytes)
        };
        if flush_inline {
            inner.flush()
        } else {
            if wake {
                inner.wake.notify_one();
            }
            Ok(())
        }
    }

    /// Writes and `fsync`s every queued record. Blocking: from async code
    /// call it through `spawn_blocking` (or [`AuditLog::flush_async`]).
    pub fn flush(&self) -> Result<(), AuditError> {
        self.inner.flush()
    }

    /// [`AuditLog::flush`] on the blocking pool.
    pub async fn flush_async(&self) -> Result<(), AuditError> {
        let inner = Arc::clone(&self.inner);
        match tokio::task::spawn_blocking(move || inner.flush()).await {
            Ok(r) => r,
            Err(e) => Err(AuditError::io(&self.inner.path, std::io::Error::other(e))),
        }
    }

    /// The hash of the last appended record (queued or written), or
    /// [`GENESIS_PREV`](super::GENESIS_PREV) for an empty file: the value to
    /// anchor externally.
    pub fn last_hash(&self) -> String {
        self.inner.queue.lock().prev.clone()
    }

    /// The `seq` the next record will get.
    pub fn next_seq(&self) -> u64 {
        self.inner.queue.lock().next_seq
    }
}

impl Inner {
    fn flush(&self) -> Result<(), AuditError> {
        let mut file = self.file.lock();
        let lines = {
            let mut q = self.queue.lock();
            if let Some(detail) = &q.poisoned {
                return Err(AuditError::Poisoned { path: self.path.clone(), detail: detail.clone() });
            }
            q.records = 0;
            std::mem::take(&mut q.lines)
        };
        if lines.is_empty() {
            return Ok(());
        }
        let written = file.write_all(&lines).and_then(|()| file.sync_data());
        if let Err(e) = written {
            self.queue.lock().poisoned = Some(e.to_string());
            return Err(AuditError::io(&self.path, e));
        }
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Let the background flusher notice it is no longer needed.
        self.wake.notify_one();
        if let Err(error) = self.flush() {
            tracing::error!(%error, "audit log: final flush failed");
        }
    }
}

/// The background flusher: flushes when woken (enough records queued) or
/// every `interval`; ends when the last [`AuditLog`] handle is gone.
async fn flush_periodically(inner: Weak<Inner>, wake: Arc<Notify>, interval: Duration) {
    loop {
        // Woken or timed out: either way, look at the queue.
        let _woken = tokio::time::timeout(interval, wake.notified()).await;
        let Some(strong) = inner.upgrade() else { return };
        if strong.queue.lock().lines.is_empty() {
            continue;
        }
        match tokio::task::spawn_blocking(move || strong.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%error, "audit log: flush failed"),
            Err(error) => tracing::error!(%error, "audit log: flush task failed"),
        }
    }
}

/// Reads the file's last line and returns the chain state after it.
fn chain_tail(file: &mut File, path: &Path) -> Result<(u64, String), AuditError> {
    let io = |e| AuditError::io(path, e);
    let len = file.seek(SeekFrom::End(0)).map_err(io)?;
    if len == 0 {
        return Ok((0, chain::GENESIS_PREV.to_string()));
    }
    let corrupt = |detail: String| AuditError::CorruptTail { path: path.to_path_buf(), detail };
    // Read backwards until the newline before the last line.
    let mut tail: Vec<u8> = Vec::new();
    let mut pos = len;
    let line_start = loop {
        let step = pos.min(64 * 1024);
        pos -= step;
        let mut chunk = vec![0u8; usize::try_from(step).map_err(|e| io(std::io::Error::other(e)))?];
        file.seek(SeekFrom::Start(pos)).map_err(io)?;
        file.read_exact(&mut chunk).map_err(io)?;
        chunk.extend_from_slice(&tail);
        tail = chunk;
        if tail.last() != Some(&b'\n') {
            return Err(corrupt("the last line is incomplete (no trailing newline)".into()));
        }
        let body = tail.len() - 1;
        if let Some(nl) = tail[..body].iter().rposition(|b| *b == b'\n') {
            break nl + 1;
        }
        if pos == 0 {
            break 0;
        }
        if len - pos > MAX_LINE {
            return Err(corrupt(format!("the last line is longer than {MAX_LINE} bytes")));
        }
    };
    let line = tail.get(line_start..tail.len() - 1).unwrap_or_default();
    match chain::check_line(line) {
        LineCheck::Sound(f) => match f.seq.checked_add(1) {
            Some(next) => Ok((next, f.hash)),
            None => Err(corrupt("the last record's seq is at its maximum".into())),
        },
        LineCheck::HashMismatch(f) => {
            Err(corrupt(format!("the last record (seq {}) does not match its hash (edited)", f.seq)))
        }
        LineCheck::Malformed(why) => Err(corrupt(format!("the last line is not a complete record: {why}"))),
    }
}
