//! The figures of a run: collected in [`Results`], written as JSON and as Markdown, and
//! recorded in BENCHMARKS.md.

use crate::dashboard::Equivalence;
use crate::fanout::FanOut;
use crate::load::Stats;
use crate::pgwait::Waits;
use crate::procfs::CpuShare;
use crate::seed::Sizes;
use crate::writes::Ingestion;
use anyhow::{Context, Result};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;

/// The machine and the software of a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Machine {
    pub cpu_model: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub os: String,
    pub kernel: String,
    pub postgres: String,
    pub postgraphile: String,
    pub node: String,
    pub rustc: String,
}

/// The code that was measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Revision {
    pub commit: String,
    /// Files with changes that are not committed.
    pub uncommitted_files: usize,
}

/// One target under load: closed-loop runs, the best of them, and an open-loop run at
/// half its rate.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Target {
    pub closed: Vec<Stats>,
    pub peak: Stats,
    /// CPU use during the peak run.
    pub peak_cpu: CpuShare,
    pub half_rate: Stats,
    /// Wait events of the database sessions during the closed-loop runs.
    pub waits: Waits,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Dashboard {
    pub equivalence: Equivalence,
    pub headway: Target,
    pub postgraphile: Option<Target>,
    pub raw: Target,
    /// Largest resident memory of Headway during its dashboard runs, in bytes.
    pub headway_peak_rss: u64,
    pub postgraphile_peak_rss: u64,
}

/// Statements of one dashboard request at one data size.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StatementCount {
    pub cycle: String,
    pub objectives: usize,
    pub key_results: usize,
    pub check_ins_in_cycle: i64,
    /// Statements of each measured request.
    pub counts: Vec<usize>,
    /// The most frequent count, which leaves out background statements that happened to
    /// run during a request.
    pub per_request: usize,
    pub statements: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Statements {
    pub small: StatementCount,
    pub large: StatementCount,
    /// The outcome of the repository's test `statements::dashboard_statements_do_not_grow`.
    pub repository_test: Option<String>,
    /// Statements that background tasks ran while no request was in flight.
    pub idle_seconds: f64,
    pub idle_statements: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct CheckIns {
    /// One client at a time.
    pub single: Stats,
    pub closed: Vec<Stats>,
    pub peak: Stats,
    pub peak_cpu: CpuShare,
    /// Wait events of the database sessions during the runs with several clients.
    pub waits: Waits,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct KpiIngestion {
    /// One batch at a time, to show how the rate scales with parallel batches.
    pub headway_serial: Ingestion,
    pub headway: Ingestion,
    pub headway_cpu: CpuShare,
    pub headway_waits: Waits,
    pub raw: Ingestion,
    pub raw_cpu: CpuShare,
    pub raw_waits: Waits,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct FanOuts {
    pub headway: Vec<FanOut>,
    pub headway_cpu: Vec<CpuShare>,
    pub peer: Vec<FanOut>,
    pub peer_cpu: Vec<CpuShare>,
}

/// Resident memory of the Headway process at points of the run, in bytes.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Memory {
    pub idle_empty: u64,
    pub idle_seeded: u64,
    pub dashboard_peak: u64,
    /// The kernel's high-water mark (VmHWM) at the end of the run.
    pub high_water: u64,
    pub with_subscribers: u64,
    pub subscribers: usize,
}

/// A design target and whether the run met it.
#[derive(Clone, Debug, Serialize)]
pub struct TargetCheck {
    pub target: String,
    pub measured: String,
    /// `None` when the run did not measure it.
    pub met: Option<bool>,
    /// Measurements that explain a miss.
    pub notes: String,
}

/// Every figure of one run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Results {
    pub started_at: String,
    pub mode: String,
    pub command: String,
    pub note: Option<String>,
    pub machine: Machine,
    pub revision: Revision,
    pub sizes: Option<Sizes>,
    pub rows: Vec<(String, i64)>,
    pub seeding_seconds: f64,
    pub seeding_steps: Vec<(String, f64)>,
    pub dashboard: Option<Dashboard>,
    pub statements: Option<Statements>,
    pub check_ins: Option<CheckIns>,
    pub ingestion: Option<KpiIngestion>,
    pub fan_out: Option<FanOuts>,
    pub memory: Memory,
    /// The hottest functions of a system-wide profile during Headway's dashboard load.
    pub profile: Vec<String>,
    pub targets: Vec<TargetCheck>,
    /// Phases that failed, with the error.
    pub failures: Vec<String>,
    /// Measurements that started while other work kept the machine busy.
    pub busy_starts: Vec<String>,
    /// The load averages over 1, 5 and 15 minutes when the run started and when it ended.
    pub load_average_start: Option<String>,
    pub load_average_end: Option<String>,
    /// Things the run noticed that are not figures, such as a server that had to be killed.
    pub notes: Vec<String>,
    pub total_seconds: f64,
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1_048_576.0)
}

fn ratio(numerator: f64, denominator: f64) -> String {
    if denominator > 0.0 {
        format!("{:.2}×", numerator / denominator)
    } else {
        "n/a".to_owned()
    }
}

/// Describes where CPU time went, for the notes on a missed target.
pub fn cpu_sentence(label: &str, server: &str, cpu: &CpuShare, cores: usize) -> String {
    format!(
        "During {label}, {server} used {:.2} cores, PostgreSQL {:.2}, the load generator {:.2}, interrupts {:.2} and other work {:.2}, of {cores}.",
        cpu.server, cpu.postgres, cpu.bench, cpu.interrupts, cpu.other
    )
}

/// Judges the design targets from the figures.
pub fn check_targets(results: &Results) -> Vec<TargetCheck> {
    let cores = results.machine.cores;
    let mut checks = Vec::new();
    match &results.dashboard {
        Some(dashboard) => {
            let headway = dashboard.headway.peak.rate;
            match &dashboard.postgraphile {
                Some(postgraphile) => {
                    let times = headway / postgraphile.peak.rate.max(1e-9);
                    checks.push(TargetCheck {
                        target: "Dashboard requests per second at least 2× PostGraphile's"
                            .to_owned(),
                        measured: format!(
                            "{headway:.0} vs {:.0} req/s: {times:.2}×",
                            postgraphile.peak.rate
                        ),
                        met: Some(times >= 2.0),
                        notes: format!(
                            "{} {} The raw SQL baseline reached {:.0} req/s.",
                            cpu_sentence(
                                "Headway's peak run",
                                "Headway",
                                &dashboard.headway.peak_cpu,
                                cores
                            ),
                            cpu_sentence(
                                "PostGraphile's peak run",
                                "PostGraphile",
                                &postgraphile.peak_cpu,
                                cores
                            ),
                            dashboard.raw.peak.rate
                        ),
                    });
                }
                None => checks.push(TargetCheck {
                    target: "Dashboard requests per second at least 2× PostGraphile's".to_owned(),
                    measured: format!("{headway:.0} req/s; PostGraphile was not measured"),
                    met: None,
                    notes: String::new(),
                }),
            }
            let half = &dashboard.headway.half_rate;
            checks.push(TargetCheck {
                target: "Dashboard p99 under 50 ms at half the peak rate".to_owned(),
                measured: format!(
                    "p99 {:.1} ms at {:.0} req/s ({} errors)",
                    half.p99_ms, half.target_rate, half.errors
                ),
                met: Some(half.p99_ms < 50.0 && half.errors == 0),
                notes: format!("p50 {:.1} ms, max {:.1} ms.", half.p50_ms, half.max_ms),
            });
        }
        None => checks.push(TargetCheck {
            target: "Dashboard requests per second at least 2× PostGraphile's".to_owned(),
            measured: "not measured".to_owned(),
            met: None,
            notes: String::new(),
        }),
    }
    match results
        .fan_out
        .as_ref()
        .and_then(|fan_out| fan_out.headway.last().map(|last| (fan_out, last)))
    {
        Some((fan_out, largest)) => {
            let cpu = fan_out.headway_cpu.last().cloned().unwrap_or_default();
            checks.push(TargetCheck {
                target: "Check-in to subscriber p99 under 100 ms with 5,000 subscribers".to_owned(),
                measured: format!(
                    "p99 {:.1} ms with {} subscribers ({} missed)",
                    largest.delivery.p99_ms, largest.subscribers, largest.missed
                ),
                met: (largest.subscribers >= 5_000)
                    .then_some(largest.delivery.p99_ms < 100.0 && largest.missed == 0),
                notes: format!(
                    "The check-in itself took {:.1} ms (p50). {}",
                    largest.trigger_p50_ms,
                    cpu_sentence("the delivery rounds", "Headway", &cpu, cores)
                ),
            });
            checks.push(TargetCheck {
                target: "Idle memory per subscription under 32 KiB".to_owned(),
                measured: format!(
                    "{:.1} KiB with {} subscribers",
                    largest.bytes_per_subscription / 1024.0,
                    largest.subscribers
                ),
                met: Some(largest.bytes_per_subscription < 32.0 * 1024.0),
                notes: format!(
                    "Resident memory went from {} to {}; each subscription is also a WebSocket connection.",
                    mib(largest.rss_before),
                    mib(largest.rss_idle)
                ),
            });
        }
        None => checks.push(TargetCheck {
            target: "Check-in to subscriber p99 under 100 ms with 5,000 subscribers".to_owned(),
            measured: "not measured".to_owned(),
            met: None,
            notes: String::new(),
        }),
    }
    match &results.ingestion {
        Some(ingestion) => checks.push(TargetCheck {
            target: "KPI ingestion at least 20,000 measurements per second".to_owned(),
            measured: format!(
                "{:.0} measurements/s ({} parallel batches of 1,000)",
                ingestion.headway.per_second, ingestion.headway.parallel_batches
            ),
            met: Some(ingestion.headway.per_second >= 20_000.0),
            notes: format!(
                "A batch took {:.0} ms (p50). One batch at a time reached {:.0} measurements/s, and plain INSERTs of the same rows {:.0} rows/s. {} The database sessions waited on: {}.",
                ingestion.headway.batch.p50_ms,
                ingestion.headway_serial.per_second,
                ingestion.raw.per_second,
                cpu_sentence("ingestion", "Headway", &ingestion.headway_cpu, cores),
                ingestion.headway_waits.describe()
            ),
        }),
        None => checks.push(TargetCheck {
            target: "KPI ingestion at least 20,000 measurements per second".to_owned(),
            measured: "not measured".to_owned(),
            met: None,
            notes: String::new(),
        }),
    }
    match &results.statements {
        Some(statements) => {
            let small = statements.small.per_request;
            let large = statements.large.per_request;
            checks.push(TargetCheck {
                target: "Dashboard SQL statement count constant whatever the data size".to_owned(),
                measured: format!(
                    "{small} statements for {} objectives, {large} for {}",
                    statements.small.objectives, statements.large.objectives
                ),
                met: Some(small == large && small > 0),
                notes: format!(
                    "Counts of the single requests: {:?} and {:?}. The repository's test: {}",
                    statements.small.counts,
                    statements.large.counts,
                    statements.repository_test.as_deref().unwrap_or("not run")
                ),
            });
        }
        None => checks.push(TargetCheck {
            target: "Dashboard SQL statement count constant whatever the data size".to_owned(),
            measured: "not measured".to_owned(),
            met: None,
            notes: String::new(),
        }),
    }
    checks
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "not measured",
    }
}

fn stats_row(out: &mut String, label: &str, stats: &Stats) {
    let _ = writeln!(
        out,
        "| {label} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
        stats.rate, stats.p50_ms, stats.p90_ms, stats.p99_ms, stats.max_ms, stats.errors
    );
}

fn cpu_row(out: &mut String, label: &str, cpu: &CpuShare) {
    let _ = writeln!(
        out,
        "| {label} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
        cpu.server, cpu.postgres, cpu.bench, cpu.interrupts, cpu.other
    );
}

/// Renders the figures of a run as Markdown.
pub fn render(results: &Results) -> String {
    let mut out = String::new();
    let machine = &results.machine;
    let _ = writeln!(
        out,
        "Run of {} ({} mode), commit `{}`{}.",
        results.started_at,
        results.mode,
        short(&results.revision.commit),
        uncommitted(&results.revision)
    );
    let _ = writeln!(out);

    let _ = writeln!(out, "- Command: `{}`", results.command);
    let _ = writeln!(
        out,
        "- Machine: {}, {} cores, {:.1} GiB memory, {}, Linux {}",
        machine.cpu_model, machine.cores, machine.memory_gib, machine.os, machine.kernel
    );
    let _ = writeln!(
        out,
        "- Software: PostgreSQL {}, PostGraphile {} on Node.js {}, {}",
        machine.postgres, machine.postgraphile, machine.node, machine.rustc
    );
    let _ = writeln!(
        out,
        "- Everything (servers, PostgreSQL and the load generator) shares the same {} cores on 127.0.0.1.",
        machine.cores
    );
    let _ = writeln!(
        out,
        "- Total time of the run: {:.0} s.",
        results.total_seconds
    );
    let _ = writeln!(out, "- {}.", load_sentence(results));
    if results.busy_starts.is_empty() {
        let _ = writeln!(
            out,
            "- Every measurement started on an otherwise idle machine (under 0.3 busy cores for 1 s)."
        );
    } else {
        let _ = writeln!(
            out,
            "- Other work kept the machine busy when these measurements started, after waiting up to 45 s (5 minutes before the first): {}.",
            results.busy_starts.join("; ")
        );
    }
    let _ = writeln!(out);

    let _ = writeln!(out, "### Design targets");
    let _ = writeln!(out);

    let _ = writeln!(out, "| target | measured | verdict |");
    let _ = writeln!(out, "| --- | --- | --- |");
    for check in &results.targets {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            check.target,
            check.measured,
            verdict(check.met)
        );
    }
    let _ = writeln!(out);

    for check in results
        .targets
        .iter()
        .filter(|check| check.met == Some(false))
    {
        let _ = writeln!(out, "- {}: {}", check.target, check.notes);
    }
    if results.targets.iter().any(|check| check.met == Some(false)) {
        let _ = writeln!(out);
    }

    let _ = writeln!(out, "### Data set");
    let _ = writeln!(out);

    let rows: Vec<String> = results
        .rows
        .iter()
        .map(|(table, count)| format!("{table} {count}"))
        .collect();
    let _ = writeln!(
        out,
        "Seeded through the GraphQL API in {:.1} s. Rows afterwards: {}.",
        results.seeding_seconds,
        rows.join(", ")
    );
    let _ = writeln!(out);

    let steps: Vec<String> = results
        .seeding_steps
        .iter()
        .map(|(step, seconds)| format!("{step} {seconds:.1} s"))
        .collect();
    let _ = writeln!(out, "Seeding steps: {}.", steps.join("; "));
    let _ = writeln!(out);

    if let Some(dashboard) = &results.dashboard {
        render_dashboard(&mut out, dashboard);
    }
    if let Some(statements) = &results.statements {
        render_statements(&mut out, statements);
    }
    if let Some(check_ins) = &results.check_ins {
        let _ = writeln!(out, "### Check-ins (createCheckIn)");
        let _ = writeln!(out);

        let _ = writeln!(
            out,
            "A random value on a random key result, observed now; each check-in rolls up three levels of objectives and writes events."
        );
        let _ = writeln!(out);

        let _ = writeln!(
            out,
            "| clients | req/s | p50 ms | p90 ms | p99 ms | max ms | errors |"
        );
        let _ = writeln!(out, "| --- | --- | --- | --- | --- | --- | --- |");
        stats_row(&mut out, "1", &check_ins.single);
        for stats in &check_ins.closed {
            stats_row(&mut out, &stats.concurrency.to_string(), stats);
        }
        let _ = writeln!(out);

        let _ = writeln!(
            out,
            "{}",
            cpu_sentence(
                "the best check-in run",
                "Headway",
                &check_ins.peak_cpu,
                results.machine.cores
            )
        );
        let _ = writeln!(out);

        let _ = writeln!(
            out,
            "The database sessions waited on, during the runs with several clients: {}.",
            check_ins.waits.describe()
        );
        let _ = writeln!(out);
    }
    if let Some(ingestion) = &results.ingestion {
        let _ = writeln!(out, "### KPI ingestion");
        let _ = writeln!(out);

        let _ = writeln!(
            out,
            "| path | measurements | parallel batches | measurements/s | batch p50 ms | batch p99 ms | failed batches |"
        );
        let _ = writeln!(out, "| --- | --- | --- | --- | --- | --- | --- |");
        for (label, run) in [
            (
                "recordKpiMeasurements, batches of 1,000",
                &ingestion.headway_serial,
            ),
            (
                "recordKpiMeasurements, batches of 1,000",
                &ingestion.headway,
            ),
            ("raw multi-row INSERT … ON CONFLICT", &ingestion.raw),
        ] {
            let _ = writeln!(
                out,
                "| {label} | {} | {} | {:.0} | {:.0} | {:.0} | {} |",
                run.measurements,
                run.parallel_batches,
                run.per_second,
                run.batch.p50_ms,
                run.batch.p99_ms,
                run.batch.errors
            );
        }
        let _ = writeln!(out);

        let _ = writeln!(
            out,
            "Headway/raw: {}.",
            ratio(ingestion.headway.per_second, ingestion.raw.per_second)
        );
        let _ = writeln!(out);

        let _ = writeln!(
            out,
            "| CPU, in cores | server | PostgreSQL | load generator | interrupts | other |"
        );
        let _ = writeln!(out, "| --- | --- | --- | --- | --- | --- |");
        cpu_row(&mut out, "Headway ingestion", &ingestion.headway_cpu);
        cpu_row(&mut out, "raw INSERTs", &ingestion.raw_cpu);
        let _ = writeln!(out);

        let _ = writeln!(
            out,
            "The benchmark database's active sessions waited on (share of samples taken every 50 ms from `pg_stat_activity`; `running` waited on nothing):"
        );
        let _ = writeln!(out);

        let _ = writeln!(
            out,
            "- recordKpiMeasurements: {}",
            ingestion.headway_waits.describe()
        );
        let _ = writeln!(out, "- raw INSERTs: {}", ingestion.raw_waits.describe());
        let _ = writeln!(out);
    }
    if let Some(fan_out) = &results.fan_out {
        render_fan_out(&mut out, fan_out);
    }
    let memory = &results.memory;
    let _ = writeln!(out, "### Headway's resident memory");
    let _ = writeln!(out);

    let _ = writeln!(out, "| point | VmRSS |");
    let _ = writeln!(out, "| --- | --- |");
    let _ = writeln!(out, "| idle, empty database | {} |", mib(memory.idle_empty));
    let _ = writeln!(out, "| idle, after seeding | {} |", mib(memory.idle_seeded));
    let _ = writeln!(
        out,
        "| peak during the dashboard runs | {} |",
        mib(memory.dashboard_peak)
    );
    let _ = writeln!(
        out,
        "| another, fresh process with {} idle subscribers | {} |",
        memory.subscribers,
        mib(memory.with_subscribers)
    );
    let _ = writeln!(
        out,
        "| high-water mark (VmHWM) of the first process at the end | {} |",
        mib(memory.high_water)
    );
    let _ = writeln!(out);

    if !results.profile.is_empty() {
        let _ = writeln!(out, "### Profile during Headway's dashboard load");
        let _ = writeln!(out);

        let _ = writeln!(
            out,
            "`perf record -a` at 499 Hz for 8 s while the load generator ran at the best concurrency; the hottest symbols (`perf report --sort comm,dso,sym`):"
        );
        let _ = writeln!(out);

        let _ = writeln!(out, "```");
        for line in &results.profile {
            let _ = writeln!(out, "{line}");
        }
        let _ = writeln!(out, "```");
        let _ = writeln!(out);
    }
    if !results.notes.is_empty() {
        let _ = writeln!(out, "### Notes");
        let _ = writeln!(out);

        for note in &results.notes {
            let _ = writeln!(out, "- {note}");
        }
        let _ = writeln!(out);
    }
    if !results.failures.is_empty() {
        let _ = writeln!(out, "### Failed phases");
        let _ = writeln!(out);

        for failure in &results.failures {
            let _ = writeln!(out, "- {failure}");
        }
        let _ = writeln!(out);
    }
    out
}

fn render_dashboard(out: &mut String, dashboard: &Dashboard) {
    let equivalence = &dashboard.equivalence;
    let _ = writeln!(out, "### Dashboard query");
    let _ = writeln!(out);

    let _ = writeln!(
        out,
        "Each answer lists {} objectives, {} key results and {} last check-ins ({} bytes from Headway, {} from PostGraphile, {} from the raw baseline). {}",
        equivalence.objectives,
        equivalence.key_results,
        equivalence.check_ins,
        equivalence.headway_bytes,
        equivalence.postgraphile_bytes,
        equivalence.raw_bytes,
        if equivalence.differences.is_empty() {
            "The three answers list the same objectives, key results and check-in values."
                .to_owned()
        } else {
            format!("They differ: {}.", equivalence.differences.join("; "))
        }
    );
    let _ = writeln!(out);

    let _ = writeln!(
        out,
        "Closed loop (each client sends its next request when the previous one returns):"
    );
    let _ = writeln!(out);

    let _ = writeln!(
        out,
        "| target, clients | req/s | p50 ms | p90 ms | p99 ms | max ms | errors |"
    );
    let _ = writeln!(out, "| --- | --- | --- | --- | --- | --- | --- |");
    let mut targets = vec![("Headway", &dashboard.headway)];
    if let Some(postgraphile) = &dashboard.postgraphile {
        targets.push(("PostGraphile", postgraphile));
    }
    targets.push(("raw SQL", &dashboard.raw));
    for (name, target) in &targets {
        for stats in &target.closed {
            stats_row(out, &format!("{name}, {}", stats.concurrency), stats);
        }
    }
    let _ = writeln!(out);

    let _ = writeln!(
        out,
        "Open loop at half of each target's own peak (latency from the scheduled send time):"
    );
    let _ = writeln!(out);

    let _ = writeln!(
        out,
        "| target | rate req/s | p50 ms | p90 ms | p99 ms | max ms | errors |"
    );
    let _ = writeln!(out, "| --- | --- | --- | --- | --- | --- | --- |");
    for (name, target) in &targets {
        stats_row(out, name, &target.half_rate);
    }
    let _ = writeln!(out);

    let headway = dashboard.headway.peak.rate;
    if let Some(postgraphile) = &dashboard.postgraphile {
        let _ = writeln!(
            out,
            "Peak ratios: Headway/PostGraphile {}, Headway/raw SQL {}.",
            ratio(headway, postgraphile.peak.rate),
            ratio(headway, dashboard.raw.peak.rate)
        );
    } else {
        let _ = writeln!(
            out,
            "Peak ratio: Headway/raw SQL {}.",
            ratio(headway, dashboard.raw.peak.rate)
        );
    }
    let _ = writeln!(out);

    let _ = writeln!(
        out,
        "| CPU at peak, in cores | server | PostgreSQL | load generator | interrupts | other |"
    );
    let _ = writeln!(out, "| --- | --- | --- | --- | --- | --- |");
    for (name, target) in &targets {
        cpu_row(out, name, &target.peak_cpu);
    }
    let _ = writeln!(out);

    let _ = writeln!(
        out,
        "Peak resident memory: Headway {}, PostGraphile {} (all its processes).",
        mib(dashboard.headway_peak_rss),
        mib(dashboard.postgraphile_peak_rss)
    );
    let _ = writeln!(out);

    let _ = writeln!(
        out,
        "The benchmark database's active sessions during the closed-loop runs waited on (share of samples taken every 50 ms from `pg_stat_activity`; `running` waited on nothing):"
    );
    let _ = writeln!(out);

    for (name, target) in &targets {
        let _ = writeln!(out, "- {name}: {}", target.waits.describe());
    }
    let _ = writeln!(out);
}

fn render_statements(out: &mut String, statements: &Statements) {
    let _ = writeln!(out, "### SQL statements per dashboard request");
    let _ = writeln!(out);

    let _ = writeln!(
        out,
        "Counted by a PostgreSQL wire-protocol relay in the benchmark tool between a second Headway process and PostgreSQL: every `Query` and `Execute` message between sending a request and receiving its response is one statement, authentication included. The per-request figure is the most frequent count of {} requests, because a background task's statement can fall inside a request.",
        statements.large.counts.len()
    );
    let _ = writeln!(out);

    let _ = writeln!(
        out,
        "| cycle | objectives returned | key results returned | check-ins in the cycle | statements per request | counts of the single requests |"
    );
    let _ = writeln!(out, "| --- | --- | --- | --- | --- | --- |");
    for count in [&statements.small, &statements.large] {
        let counts: Vec<String> = count.counts.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            count.cycle,
            count.objectives,
            count.key_results,
            count.check_ins_in_cycle,
            count.per_request,
            counts.join(", ")
        );
    }
    let _ = writeln!(out);

    let _ = writeln!(out, "The statements of one request on the larger cycle:");
    let _ = writeln!(out);

    for statement in &statements.large.statements {
        let _ = writeln!(out, "1. `{statement}`");
    }
    let _ = writeln!(out);

    if statements.idle_statements.is_empty() {
        let _ = writeln!(
            out,
            "Without requests, the server ran no statements in {:.0} s.",
            statements.idle_seconds
        );
    } else {
        let _ = writeln!(
            out,
            "Without requests, background tasks ran {} statements in {:.0} s: {}.",
            statements.idle_statements.len(),
            statements.idle_seconds,
            occurrences(&statements.idle_statements).join(", ")
        );
    }
    let _ = writeln!(out);

    if let Some(outcome) = &statements.repository_test {
        let _ = writeln!(
            out,
            "The repository's test `statements::dashboard_statements_do_not_grow` (5 and 50 objectives, counted through sea-orm's metric callback): {outcome}"
        );
        let _ = writeln!(out);
    }
}

/// Lists each distinct statement once, in order of first appearance, with its count.
fn occurrences(statements: &[String]) -> Vec<String> {
    let mut distinct: Vec<(&String, usize)> = Vec::new();
    for statement in statements {
        match distinct.iter_mut().find(|(seen, _)| *seen == statement) {
            Some((_, count)) => *count += 1,
            None => distinct.push((statement, 1)),
        }
    }
    distinct
        .into_iter()
        .map(|(statement, count)| format!("`{statement}` ({count}×)"))
        .collect()
}

fn render_fan_out(out: &mut String, fan_out: &FanOuts) {
    let _ = writeln!(out, "### Subscription fan-out");
    let _ = writeln!(out);

    let _ = writeln!(
        out,
        "All subscribers watch one key result; a round is one check-in over HTTP (Headway) or one publish message (the raw broadcast peer). Latency runs from just before the check-in is sent to each subscriber's receipt."
    );
    let _ = writeln!(out);

    let _ = writeln!(
        out,
        "| server | subscribers | rounds | p50 ms | p99 ms | max ms | missed | trigger p50 ms | connect s | idle memory per subscription | marginal |"
    );
    let _ = writeln!(
        out,
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for (name, runs) in [
        ("Headway", &fan_out.headway),
        ("raw broadcast peer", &fan_out.peer),
    ] {
        for run in runs {
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {:.1} | {:.1} | {:.1} | {} | {:.1} | {:.1} | {:.1} KiB | {} |",
                run.subscribers,
                run.rounds,
                run.delivery.p50_ms,
                run.delivery.p99_ms,
                run.delivery.max_ms,
                run.missed,
                run.trigger_p50_ms,
                run.connect_seconds,
                run.bytes_per_subscription / 1024.0,
                run.marginal_bytes_per_subscription
                    .map_or(String::new(), |bytes| format!("{:.1} KiB", bytes / 1024.0))
            );
        }
    }
    let _ = writeln!(out);

    for (headway, peer) in fan_out.headway.iter().zip(&fan_out.peer) {
        let _ = writeln!(
            out,
            "- {} subscribers: Headway/peer p99 {}, memory per subscription {}.",
            headway.subscribers,
            ratio(headway.delivery.p99_ms, peer.delivery.p99_ms),
            ratio(headway.bytes_per_subscription, peer.bytes_per_subscription)
        );
    }
    let _ = writeln!(out);

    let _ = writeln!(
        out,
        "| CPU during the rounds, in cores | server | PostgreSQL | load generator | interrupts | other |"
    );
    let _ = writeln!(out, "| --- | --- | --- | --- | --- | --- |");
    for (name, runs, cpus) in [
        ("Headway", &fan_out.headway, &fan_out.headway_cpu),
        ("peer", &fan_out.peer, &fan_out.peer_cpu),
    ] {
        for (run, cpu) in runs.iter().zip(cpus) {
            cpu_row(out, &format!("{name}, {}", run.subscribers), cpu);
        }
    }
    let _ = writeln!(out);
}

fn short(commit: &str) -> &str {
    commit.get(..10).unwrap_or(commit)
}

fn uncommitted(revision: &Revision) -> String {
    if revision.uncommitted_files > 0 {
        format!(" with {} uncommitted files", revision.uncommitted_files)
    } else {
        String::new()
    }
}

const LATEST_BEGIN: &str = "<!-- latest run: begin -->";
const LATEST_END: &str = "<!-- latest run: end -->";
const RUN_MARKER: &str = "<!-- run commit=";

/// Renders the short entry that a run appends to the "Runs" section.
fn run_entry(results: &Results, changes: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### {} ({} mode), commit `{}`{}",
        results.started_at,
        results.mode,
        short(&results.revision.commit),
        uncommitted(&results.revision)
    );
    let _ = writeln!(out);

    let _ = writeln!(out, "{RUN_MARKER}{} -->", results.revision.commit);
    let _ = writeln!(out, "- Changes since the previous run: {changes}");
    let _ = writeln!(out, "- {}.", load_sentence(results));
    for check in &results.targets {
        let _ = writeln!(
            out,
            "- {}: {} ({})",
            check.target,
            check.measured,
            verdict(check.met)
        );
    }
    if let Some(dashboard) = &results.dashboard {
        let _ =
            writeln!(
                out,
                "- Dashboard peak: Headway {:.0} req/s, PostGraphile {}, raw SQL {:.0} req/s",
                dashboard.headway.peak.rate,
                dashboard.postgraphile.as_ref().map_or(
                    "not measured".to_owned(),
                    |target| format!("{:.0} req/s", target.peak.rate)
                ),
                dashboard.raw.peak.rate
            );
    }
    if !results.failures.is_empty() {
        let _ = writeln!(out, "- Failed phases: {}", results.failures.join("; "));
    }
    out
}

/// Describes the machine's load averages at the start and at the end of the run.
fn load_sentence(results: &Results) -> String {
    let unknown = || "unknown".to_owned();
    format!(
        "Load average (1, 5 and 15 minutes): {} at the start, {} at the end",
        results.load_average_start.clone().unwrap_or_else(unknown),
        results.load_average_end.clone().unwrap_or_else(unknown)
    )
}

/// Returns the commit of the last run recorded in `text`, if any.
pub fn previous_commit(text: &str) -> Option<String> {
    let start = text.rfind(RUN_MARKER)? + RUN_MARKER.len();
    let rest = text.get(start..)?;
    let end = rest.find(" -->")?;
    Some(rest[..end].to_owned())
}

/// Replaces the latest-run section of BENCHMARKS.md with `rendered` and appends a run
/// entry at the end of the file, which is the "Runs" section.
pub fn record(path: &Path, results: &Results, rendered: &str, changes: &str) -> Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read {}", path.display()))?;
    let updated = splice(&text, rendered, &run_entry(results, changes)).with_context(|| {
        format!(
            "{} has no `{LATEST_BEGIN}` … `{LATEST_END}` section",
            path.display()
        )
    })?;
    std::fs::write(path, updated).with_context(|| format!("failed to write {}", path.display()))
}

fn splice(text: &str, rendered: &str, entry: &str) -> Option<String> {
    let begin = text.find(LATEST_BEGIN)? + LATEST_BEGIN.len();
    let end = text.find(LATEST_END)?;
    if end < begin {
        return None;
    }
    let mut updated = String::with_capacity(text.len() + rendered.len() + entry.len());
    updated.push_str(&text[..begin]);
    updated.push('\n');
    updated.push_str(rendered.trim_end());
    updated.push('\n');
    updated.push_str(&text[end..]);
    if !updated.ends_with("\n\n") {
        updated.push('\n');
    }
    updated.push_str(entry);
    Some(updated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_replaces_latest_and_appends_entry() {
        let text = "# B\n\n<!-- latest run: begin -->\nold\n<!-- latest run: end -->\n\n## Runs\n";
        let updated = splice(text, "new figures\n", "### run 2\n").unwrap();
        assert!(
            updated.contains("<!-- latest run: begin -->\nnew figures\n<!-- latest run: end -->")
        );
        assert!(!updated.contains("old"));
        assert!(updated.ends_with("## Runs\n\n### run 2\n"));
    }

    #[test]
    fn occurrences_count_repeats_in_order() {
        let statements = ["b".to_owned(), "a".to_owned(), "b".to_owned()];
        assert_eq!(occurrences(&statements), vec!["`b` (2×)", "`a` (1×)"]);
    }

    #[test]
    fn splice_without_markers_fails() {
        assert_eq!(splice("# B\n", "x", "y"), None);
    }

    #[test]
    fn previous_commit_is_the_last_marker() {
        let text = "<!-- run commit=aaa -->\n...\n<!-- run commit=bbb -->\n";
        assert_eq!(previous_commit(text).as_deref(), Some("bbb"));
        assert_eq!(previous_commit("none"), None);
    }

    #[test]
    fn targets_without_figures_are_not_measured() {
        let checks = check_targets(&Results::default());
        assert!(checks.iter().all(|check| check.met.is_none()));
    }

    #[test]
    fn render_lists_every_target() {
        let results = Results {
            targets: check_targets(&Results::default()),
            ..Results::default()
        };
        let text = render(&results);
        assert!(text.contains("| Dashboard SQL statement count constant whatever the data size | not measured | not measured |"));
    }
}
