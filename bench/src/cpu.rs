//! Where the CPU goes during a measurement, from `/proc` (Linux).
//!
//! Four buckets, in cores used (CPU seconds per wall-clock second):
//! - client: the threads of the load generator's runtime (named
//!   [`CLIENT_THREAD_NAME`]), which also runs the stand-in STS;
//! - server: everything else in this process (the actix workers and the
//!   service's own runtime, which does the database work and signs);
//! - PostgreSQL: the postmaster and its children, when we started it;
//! - other: every other process on the machine (from `/proc/stat`), e.g. a
//!   build running meanwhile, which makes the figures unreliable.

use std::fs;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Instant;

/// The name of the load generator's threads (at most 15 bytes: Linux
/// truncates thread names).
pub const CLIENT_THREAD_NAME: &str = "bench-client";

/// Cumulative CPU seconds at an instant.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    at: Instant,
    process: f64,
    client: f64,
    postgres: Option<f64>,
    machine: f64,
}

/// Cores used between two snapshots.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub server: f64,
    pub client: f64,
    pub postgres: Option<f64>,
    pub other: f64,
}

impl Snapshot {
    /// Read the counters now; `postmaster` is the PostgreSQL server's pid
    /// when it is ours.
    pub fn take(postmaster: Option<u32>) -> Snapshot {
        let process = read_stat(Path::new("/proc/self/stat"))
            .map(|s| s.utime + s.stime)
            .unwrap_or(0);
        let client = client_ticks();
        let postgres = postmaster.map(postgres_ticks);
        let machine = machine_busy_ticks();
        let hz = clock_ticks_per_second();
        Snapshot {
            at: Instant::now(),
            process: process as f64 / hz,
            client: client as f64 / hz,
            postgres: postgres.map(|t| t as f64 / hz),
            machine: machine as f64 / hz,
        }
    }

    /// Cores used from `earlier` to `self`.
    pub fn since(&self, earlier: &Snapshot) -> Usage {
        let wall = self.at.duration_since(earlier.at).as_secs_f64().max(1e-9);
        let client = (self.client - earlier.client).max(0.0);
        let process = (self.process - earlier.process).max(0.0);
        let postgres = self
            .postgres
            .zip(earlier.postgres)
            .map(|(now, then)| (now - then).max(0.0));
        let machine = (self.machine - earlier.machine).max(0.0);
        Usage {
            server: (process - client).max(0.0) / wall,
            client: client / wall,
            postgres: postgres.map(|p| p / wall),
            other: (machine - process - postgres.unwrap_or(0.0)).max(0.0) / wall,
        }
    }
}

/// `utime` etc. of one `/proc/<pid>/stat`, in clock ticks.
struct Stat {
    comm: String,
    pid: u32,
    ppid: u32,
    utime: u64,
    stime: u64,
    cutime: u64,
    cstime: u64,
}

fn read_stat(path: &Path) -> Option<Stat> {
    let text = fs::read_to_string(path).ok()?;
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text[..open].trim().parse().ok()?;
    let comm = text[open + 1..close].to_owned();
    let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
    // rest[0] is field 3 (state); utime is field 14.
    let field = |n: usize| rest.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    Some(Stat {
        comm,
        pid,
        ppid: u32::try_from(field(4)?).ok()?,
        utime: field(14)?,
        stime: field(15)?,
        cutime: field(16)?,
        cstime: field(17)?,
    })
}

/// CPU ticks of this process's load generator threads.
fn client_ticks() -> u64 {
    let Ok(tasks) = fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| read_stat(&task.path().join("stat")))
        .filter(|s| s.comm.starts_with(CLIENT_THREAD_NAME))
        .map(|s| s.utime + s.stime)
        .sum()
}

/// CPU ticks of the postmaster, its live children, and its reaped children.
fn postgres_ticks(postmaster: u32) -> u64 {
    let Ok(procs) = fs::read_dir("/proc") else {
        return 0;
    };
    procs
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| read_stat(&e.path().join("stat")))
        .map(|s| {
            if s.pid == postmaster {
                s.utime + s.stime + s.cutime + s.cstime
            } else if s.ppid == postmaster {
                s.utime + s.stime
            } else {
                0
            }
        })
        .sum()
}

/// Busy ticks of all CPUs (`/proc/stat`: user, nice, system; not irq and
/// softirq, which the kernel may charge there for our own loopback traffic).
fn machine_busy_ticks() -> u64 {
    let Ok(text) = fs::read_to_string("/proc/stat") else {
        return 0;
    };
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return 0;
    };
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq ...
    [0, 1, 2].iter().filter_map(|&i| fields.get(i)).sum()
}

/// The 1-minute load average.
pub fn load_average() -> Option<f64> {
    fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `getconf CLK_TCK`, 100 if that fails (the Linux value).
fn clock_ticks_per_second() -> f64 {
    static HZ: OnceLock<f64> = OnceLock::new();
    *HZ.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|hz| *hz > 0.0)
            .unwrap_or(100.0)
    })
}
