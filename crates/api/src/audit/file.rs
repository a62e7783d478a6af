//! The export file (`audit.file`): one record (CloudTrail's JSON) per line,
//! appended as records are written to the database, for a SIEM to tail.
//! When the file would grow past `max_bytes` it is renamed `<file>.1`
//! (`.1` becoming `.2`, and so on; the oldest beyond `keep` is removed) and
//! a new one is started, as logrotate's `copytruncate`-free scheme does.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};

/// Where and how big.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOptions {
    /// The file.
    pub path: PathBuf,
    /// Size at which it is rotated.
    pub max_bytes: u64,
    /// Rotated files kept (`<file>.1` … `<file>.<keep>`).
    pub keep: u32,
}

/// The open export file.
#[derive(Debug)]
pub(super) struct ExportFile {
    options: FileOptions,
    out: BufWriter<File>,
    size: u64,
}

fn open(path: &Path) -> std::io::Result<(BufWriter<File>, u64)> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let size = file.metadata()?.len();
    Ok((BufWriter::new(file), size))
}

impl ExportFile {
    /// Open (or create) the file for appending.
    pub(super) fn open(options: FileOptions) -> std::io::Result<Self> {
        let (out, size) = open(&options.path)?;
        Ok(ExportFile { options, out, size })
    }

    /// Append `records` (one JSON document each), rotating first when they
    /// would take the file past its size; flushed before returning.
    pub(super) fn append<'a>(
        &mut self,
        records: impl IntoIterator<Item = &'a str>,
    ) -> std::io::Result<()> {
        for record in records {
            let len = record.len() as u64 + 1;
            if self.size > 0 && self.size + len > self.options.max_bytes {
                self.rotate()?;
            }
            self.out.write_all(record.as_bytes())?;
            self.out.write_all(b"\n")?;
            self.size += len;
        }
        self.out.flush()
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut name = self.options.path.clone().into_os_string();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.out.flush()?;
        if self.options.keep == 0 {
            std::fs::remove_file(&self.options.path)?;
        } else {
            let _ = std::fs::remove_file(self.rotated(self.options.keep));
            for n in (1..self.options.keep).rev() {
                let from = self.rotated(n);
                if from.exists() {
                    std::fs::rename(&from, self.rotated(n + 1))?;
                }
            }
            std::fs::rename(&self.options.path, self.rotated(1))?;
        }
        let (out, size) = open(&self.options.path)?;
        self.out = out;
        self.size = size;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_lines_and_the_file_rotates_by_size_keeping_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.ndjson");
        let mut file = ExportFile::open(FileOptions {
            path: path.clone(),
            max_bytes: 50,
            keep: 2,
        })
        .unwrap();
        let records: Vec<String> = (0..10)
            .map(|i| format!(r#"{{"n":{i},"pad":"xxxxxxx"}}"#))
            .collect();
        for record in &records {
            file.append([record.as_str()]).unwrap();
        }
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        let current = read(&path);
        assert!(
            current.ends_with("{\"n\":9,\"pad\":\"xxxxxxx\"}\n"),
            "{current}"
        );
        assert!(current.len() <= 50);
        let one = path.with_extension("ndjson.1");
        let two = path.with_extension("ndjson.2");
        assert!(!read(&one).is_empty() && !read(&two).is_empty());
        assert!(
            !path.with_extension("ndjson.3").exists(),
            "only two are kept"
        );
        for line in read(&two)
            .lines()
            .chain(read(&one).lines())
            .chain(current.lines())
        {
            serde_json::from_str::<serde_json::Value>(line).expect("each line is one JSON record");
        }
    }
}
