//! Session states in files (`--prompt-cache FILE`, the chat's `/save` and `/load`): the
//! core's format (`docs/state-format.md`) read from and written to disk. Reading turns every
//! way a file can be bad into one reason to show; writing goes to a temporary file in the
//! same folder, then a rename, so a failed write (a full disk, an unwritable folder) leaves
//! the old file as it was.

use armlet_core::session::Session;
use armlet_core::state::{self, Fingerprint, StateError, Summary, HEADER_BYTES};
use embedded_io_adapters::std::FromStd;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// What opening a state file found.
pub enum Opened {
    /// No file, or an empty one: nothing to restore (llama.cpp treats both alike).
    Nothing,
    /// A file that cannot be used, and why (one line).
    Bad(String),
    /// The file, checked whole against the model: its summary and its notes.
    Good { summary: Summary, notes: Vec<u8> },
}

/// The reason of a core error, in words (the reader's own errors as the OS says them).
fn reason(e: StateError<std::io::Error>) -> String {
    match e {
        StateError::Io(e) => format!("cannot read it: {e}"),
        e => e.to_string(),
    }
}

fn open(path: &Path) -> Result<Option<File>, String> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read it: {e}")),
        Ok(m) if m.is_dir() => return Err("it is a directory".into()),
        Ok(m) if m.len() == 0 => return Ok(None),
        Ok(_) => {}
    }
    File::open(path).map(Some).map_err(|e| format!("cannot read it: {e}"))
}

/// Reads the whole of `path` and checks it against the model, the KV type and the context
/// of `s`, without touching any session; then reads its notes.
pub fn check(path: &Path, s: &Session<'_, '_>, fp: &Fingerprint) -> Opened {
    let mut file = match open(path) {
        Ok(Some(f)) => f,
        Ok(None) => return Opened::Nothing,
        Err(why) => return Opened::Bad(why),
    };
    let reader = FromStd::new(BufReader::with_capacity(1 << 16, &file));
    let summary = match state::check(&s.model().hparams, s.kv_type(), fp, s.n_ctx(), reader) {
        Ok(summary) => summary,
        Err(e) => return Opened::Bad(reason(e)),
    };
    let mut notes = vec![0u8; summary.notes_len];
    let read = file.seek(SeekFrom::Start(HEADER_BYTES as u64)).and_then(|_| file.read_exact(&mut notes));
    match read {
        Ok(()) => Opened::Good { summary, notes },
        Err(e) => Opened::Bad(format!("cannot read it: {e}")),
    }
}

/// Restores `path` into `s` in one pass, for a caller who starts from scratch whatever goes
/// wrong (`--prompt-cache`): a bad header leaves the session as it was, a bad body leaves it
/// empty. The notes are read and dropped. Nothing there is [`Opened::Nothing`].
pub fn restore(path: &Path, s: &mut Session<'_, '_>, fp: &Fingerprint) -> Opened {
    let mut file = match open(path) {
        Ok(Some(f)) => f,
        Ok(None) => return Opened::Nothing,
        Err(why) => return Opened::Bad(why),
    };
    // The notes' length is the header's last field; a short or foreign file fails below.
    let mut header = [0u8; HEADER_BYTES];
    let notes_len = match file.read_exact(&mut header) {
        Ok(()) => u32::from_le_bytes([header[84], header[85], header[86], header[87]]) as usize,
        Err(_) => 0,
    };
    let file_len = file.metadata().map_or(0, |m| m.len());
    if notes_len as u64 > file_len {
        return Opened::Bad(format!("truncated: its header announces {notes_len} bytes of notes, the file has {file_len}"));
    }
    let mut notes = vec![0u8; notes_len];
    if let Err(e) = file.seek(SeekFrom::Start(0)) {
        return Opened::Bad(format!("cannot read it: {e}"));
    }
    match s.restore(fp, FromStd::new(BufReader::with_capacity(1 << 16, file)), &mut notes) {
        Ok(summary) => Opened::Good { summary, notes },
        Err(e) => Opened::Bad(reason(e)),
    }
}

/// Restores `path` into `s` after [`check`] said it is good (the chat's `/load`): the file
/// is read a second time. On an error the session is empty.
pub fn restore_checked(path: &Path, s: &mut Session<'_, '_>, fp: &Fingerprint, notes_len: usize) -> Result<Summary, String> {
    let file = open(path)?.ok_or("the file is gone")?;
    let mut notes = vec![0u8; notes_len];
    s.restore(fp, FromStd::new(BufReader::with_capacity(1 << 16, file)), &mut notes).map_err(reason)
}

/// Writes the state of `s` with `notes` to `path` through a temporary file and a rename.
/// Returns the bytes written; on an error the old file at `path`, if any, is untouched.
pub fn save(path: &Path, s: &Session<'_, '_>, fp: &Fingerprint, notes: &[u8]) -> Result<u64, String> {
    if path.is_dir() {
        return Err("it is a directory".into());
    }
    let temp = temp_path(path);
    let written = write(&temp, s, fp, notes).and_then(|n| {
        std::fs::rename(&temp, path).map_err(|e| format!("cannot rename {} to it: {e}", temp.display()))?;
        Ok(n)
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

fn write(temp: &Path, s: &Session<'_, '_>, fp: &Fingerprint, notes: &[u8]) -> Result<u64, String> {
    let file = File::create(temp).map_err(|e| format!("cannot create {}: {e}", temp.display()))?;
    let mut out = BufWriter::with_capacity(1 << 16, file);
    s.save(fp, notes, FromStd::new(&mut out)).map_err(|e| match e {
        StateError::Io(e) => format!("cannot write {}: {e}", temp.display()),
        e => e.to_string(),
    })?;
    let file = out.into_inner().map_err(|e| format!("cannot write {}: {}", temp.display(), e.error()))?;
    file.sync_all().map_err(|e| format!("cannot write {}: {e}", temp.display()))?;
    Ok(s.state_bytes(notes.len()))
}

/// `.NAME.tmp.PID` beside `path`: the same file system, so the rename is atomic.
fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "state".into());
    path.with_file_name(format!(".{name}.tmp.{}", std::process::id()))
}

