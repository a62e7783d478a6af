//! This process's memory, from `/proc/self/status` (Linux).

/// Resident set size now, in KiB.
pub fn rss_kib() -> Option<u64> {
    status_field("VmRSS:")
}

/// The highest resident set size so far, in KiB.
pub fn peak_rss_kib() -> Option<u64> {
    status_field("VmHWM:")
}

fn status_field(name: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}
