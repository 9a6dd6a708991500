//! Memory and CPU figures of processes from Linux's /proc.

use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Reads a `kB` field such as `VmRSS` from /proc/PID/status, in bytes.
pub fn status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        let kilobytes: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kilobytes * 1024)
    })
}

/// Returns the machine's memory from /proc/meminfo, in bytes.
pub fn meminfo_total_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let rest = text
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))?;
    let kilobytes: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kilobytes * 1024)
}

/// Returns the machine's load averages over 1, 5 and 15 minutes from /proc/loadavg, as
/// the kernel writes them.
pub fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let fields: Vec<&str> = text.split_whitespace().take(3).collect();
    (fields.len() == 3).then(|| fields.join(", "))
}

/// Returns the resident set size of a process, in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    status_bytes(pid, "VmRSS")
}

/// Returns the summed resident set size of a process and its descendants, in bytes.
pub fn tree_rss_bytes(pid: u32) -> Option<u64> {
    let own = rss_bytes(pid)?;
    let children: u64 = descendants(pid).into_iter().filter_map(rss_bytes).sum();
    Some(own + children)
}

/// Returns the command name, parent and CPU ticks (user plus system) from /proc/PID/stat.
fn stat(pid: u32) -> Option<(String, u32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself contain spaces or parentheses.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let command = text.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = text.get(close + 2..)?.split_whitespace().collect();
    // After the name: state, ppid, ... utime is field 14 and stime 15 of the whole line.
    let parent = fields.get(1)?.parse().ok()?;
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some((command, parent, user + system))
}

fn all_pids() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .collect()
}

/// Returns every process below `pid`, children first.
pub fn descendants(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = all_pids()
        .into_iter()
        .filter_map(|child| Some((child, stat(child)?.1)))
        .collect();
    let mut found = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for (child, child_parent) in &parents {
            if *child_parent == parent {
                found.push(*child);
                frontier.push(*child);
            }
        }
    }
    found
}

/// CPU ticks per process, for the processes of interest at one instant.
#[derive(Clone, Debug)]
struct CpuSample {
    at: Instant,
    machine_busy: u64,
    interrupts: u64,
    server: HashMap<u32, u64>,
    postgres: HashMap<u32, u64>,
    bench: u64,
}

/// Busy ticks of the whole machine and the part of them spent serving interrupts.
fn machine_ticks() -> (u64, u64) {
    let Ok(text) = std::fs::read_to_string("/proc/stat") else {
        return (0, 0);
    };
    let Some(line) = text.lines().next() else {
        return (0, 0);
    };
    // cpu user nice system idle iowait irq softirq steal ...: busy is all but idle and iowait.
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|field| field.parse().ok())
        .collect();
    let field = |index: usize| fields.get(index).copied().unwrap_or(0);
    let busy = field(0) + field(1) + field(2) + field(5) + field(6) + field(7);
    (busy, field(5) + field(6))
}

/// Waits until the machine has been nearly idle for a second, at most `budget`, so that
/// a measurement does not start while other work is running. Returns the busy cores of
/// the last second it sampled.
pub async fn wait_for_quiet(ticks_per_second: f64, threshold: f64, budget: Duration) -> f64 {
    let deadline = Instant::now() + budget;
    loop {
        let (before, _) = machine_ticks();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (after, _) = machine_ticks();
        let busy = after.saturating_sub(before) as f64 / ticks_per_second;
        if busy < threshold || Instant::now() >= deadline {
            return busy;
        }
    }
}

/// The machine's CPU time during a phase by process group, in cores (1.0 is one core busy).
#[derive(Clone, Debug, Default, Serialize)]
pub struct CpuShare {
    pub seconds: f64,
    /// The measured server and its child processes.
    pub server: f64,
    /// Every `postgres` process on the machine, including other databases' backends.
    pub postgres: f64,
    /// The benchmark tool itself: the load generator and the raw SQL baseline.
    pub bench: f64,
    /// Time the kernel spent serving interrupts, such as loopback network traffic.
    pub interrupts: f64,
    /// Busy time of everything else, such as other work on the machine.
    pub other: f64,
    pub machine_busy: f64,
}

/// Measures the CPU time of a server, PostgreSQL and the benchmark tool over a phase.
#[derive(Debug)]
pub struct CpuMeter {
    server_pid: Option<u32>,
    ticks_per_second: f64,
    start: CpuSample,
}

impl CpuMeter {
    pub fn start(server_pid: Option<u32>, ticks_per_second: f64) -> Self {
        Self {
            server_pid,
            ticks_per_second,
            start: sample(server_pid),
        }
    }

    pub fn finish(&self) -> CpuShare {
        let end = sample(self.server_pid);
        let seconds = (end.at - self.start.at).as_secs_f64();
        let to_cores = |ticks: u64| ticks as f64 / self.ticks_per_second / seconds.max(1e-9);
        let delta = |before: &HashMap<u32, u64>, after: &HashMap<u32, u64>| -> u64 {
            after
                .iter()
                .map(|(pid, ticks)| ticks.saturating_sub(before.get(pid).copied().unwrap_or(0)))
                .sum()
        };
        let server = to_cores(delta(&self.start.server, &end.server));
        let postgres = to_cores(delta(&self.start.postgres, &end.postgres));
        let bench = to_cores(end.bench.saturating_sub(self.start.bench));
        let machine_busy = to_cores(end.machine_busy.saturating_sub(self.start.machine_busy));
        let interrupts = to_cores(end.interrupts.saturating_sub(self.start.interrupts));
        CpuShare {
            seconds,
            server,
            postgres,
            bench,
            interrupts,
            other: (machine_busy - server - postgres - bench - interrupts).max(0.0),
            machine_busy,
        }
    }
}

fn sample(server_pid: Option<u32>) -> CpuSample {
    let mut server = HashMap::new();
    if let Some(pid) = server_pid {
        for process in std::iter::once(pid).chain(descendants(pid)) {
            if let Some((_, _, ticks)) = stat(process) {
                server.insert(process, ticks);
            }
        }
    }
    let mut postgres = HashMap::new();
    for pid in all_pids() {
        if let Some((command, _, ticks)) = stat(pid)
            && command.starts_with("postgres")
        {
            postgres.insert(pid, ticks);
        }
    }
    let bench = stat(std::process::id()).map_or(0, |(_, _, ticks)| ticks);
    let (machine_busy, interrupts) = machine_ticks();
    CpuSample {
        at: Instant::now(),
        machine_busy,
        interrupts,
        server,
        postgres,
        bench,
    }
}

/// Samples a process tree's resident set size in the background and keeps the maximum.
#[derive(Debug)]
pub struct RssSampler {
    max: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl RssSampler {
    pub fn start(pid: u32, every: Duration) -> Self {
        let max = Arc::new(AtomicU64::new(0));
        let shared = max.clone();
        let task = tokio::spawn(async move {
            loop {
                if let Some(bytes) = tree_rss_bytes(pid) {
                    shared.fetch_max(bytes, Ordering::Relaxed);
                }
                tokio::time::sleep(every).await;
            }
        });
        Self { max, task }
    }

    /// Stops sampling and returns the largest value seen, in bytes.
    pub fn finish(self) -> u64 {
        self.task.abort();
        self.max.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_has_memory_and_cpu() {
        let pid = std::process::id();
        assert!(rss_bytes(pid).is_some_and(|bytes| bytes > 0));
        assert!(stat(pid).is_some());
        assert!(machine_ticks().0 > 0);
    }

    #[test]
    fn missing_process_has_no_figures() {
        assert_eq!(rss_bytes(u32::MAX), None);
        assert_eq!(stat(u32::MAX), None);
    }
}
