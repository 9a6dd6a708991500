//! The whole benchmark: start Headway, seed it, measure every phase against its peer, and
//! write the figures.

use crate::api::{Api, global_id_uuid, random_secret, sign_token};
use crate::dashboard::{self, Equivalence};
use crate::fanout::{self, FanOut, Publisher, Subscribers};
use crate::load::{self, Probe};
use crate::pgproxy::{self, StatementLog};
use crate::pgwait::WaitSampler;
use crate::process::{PidFile, Server, free_port, http_ok};
use crate::procfs::{self, CpuMeter, CpuShare, RssSampler};
use crate::report::{
    self, CheckIns, Dashboard, FanOuts, KpiIngestion, Results, StatementCount, Statements, Target,
};
use crate::seed::{self, Dataset, Sizes};
use crate::writes;
use anyhow::{Context, Result, bail};
use serde_json::json;
use sqlx::postgres::{PgPool, PgPoolOptions};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::process::Command;

/// Settings of a run, from the command line.
#[derive(Clone, Debug, clap::Args)]
pub struct RunArgs {
    /// URL of the benchmark's PostgreSQL database, which must exist and be empty.
    #[arg(long)]
    pub database_url: String,
    /// The release build of the Headway server.
    #[arg(long, default_value = "target/release/headway")]
    pub headway_bin: PathBuf,
    /// The folder where `postgraphile@4` is installed (it contains node_modules/.bin/postgraphile).
    #[arg(long)]
    pub postgraphile_dir: Option<PathBuf>,
    /// The folder for logs, results.json and report.md.
    #[arg(long)]
    pub out_dir: PathBuf,
    /// Smaller data and shorter runs, for a check that the benchmark works.
    #[arg(long)]
    pub quick: bool,
    /// BENCHMARKS.md to record the figures in; nothing is recorded without it.
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// A description of the changes since the previous run, for its entry in BENCHMARKS.md.
    #[arg(long)]
    pub note: Option<String>,
    /// The command line that started the run, as it should appear in the report.
    #[arg(long, default_value = "bash benches/run")]
    pub command: String,
    /// The outcome of the repository's statement-count test, as benches/run saw it.
    #[arg(long)]
    pub statement_test: Option<String>,
    /// Skip the `perf` profile of Headway under the dashboard load.
    #[arg(long)]
    pub no_profile: bool,
    /// Run only these phases (comma-separated); every phase when left out.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Phase>,
    /// Subscriber counts of the fan-out phase (comma-separated), instead of the mode's.
    #[arg(long, value_delimiter = ',')]
    pub subscribers: Vec<usize>,
}

/// A measured phase of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Phase {
    Dashboard,
    Statements,
    CheckIns,
    Ingestion,
    FanOut,
}

impl RunArgs {
    fn runs(&self, phase: Phase) -> bool {
        self.only.is_empty() || self.only.contains(&phase)
    }
}

/// Durations, concurrency levels and counts of one mode.
#[derive(Clone, Debug)]
struct Plan {
    sizes: Sizes,
    warmup: Duration,
    duration: Duration,
    open_duration: Duration,
    concurrency: Vec<usize>,
    check_in_concurrency: Vec<usize>,
    ingestion_batches: usize,
    ingestion_parallel: usize,
    subscribers: Vec<usize>,
    rounds: usize,
}

impl Plan {
    fn new(quick: bool) -> Self {
        if quick {
            Self {
                sizes: Sizes::quick(),
                warmup: Duration::from_secs(1),
                duration: Duration::from_secs(3),
                open_duration: Duration::from_secs(4),
                concurrency: vec![8, 32],
                check_in_concurrency: vec![8],
                ingestion_batches: 8,
                ingestion_parallel: 4,
                subscribers: vec![200, 1_000],
                rounds: 3,
            }
        } else {
            Self {
                sizes: Sizes::full(),
                warmup: Duration::from_secs(2),
                duration: Duration::from_secs(10),
                open_duration: Duration::from_secs(15),
                concurrency: vec![8, 16, 32],
                check_in_concurrency: vec![8, 16],
                ingestion_batches: 40,
                ingestion_parallel: 4,
                subscribers: vec![1_000, 5_000],
                rounds: 5,
            }
        }
    }
}

const JWT_ISSUER: &str = "headway";
const JWT_AUDIENCE: &str = "headway-api";
/// Open-loop requests allowed in flight before further ones count as errors.
const MAX_IN_FLIGHT: usize = 512;
/// WebSocket handshakes in flight at once while subscribers connect.
const CONNECT_BATCH: usize = 100;

/// Everything a phase needs.
struct Bench {
    args: RunArgs,
    plan: Plan,
    pids: PidFile,
    client: reqwest::Client,
    ticks_per_second: f64,
    cores: usize,
    secret: String,
    token: String,
    pool: PgPool,
    /// One connection for sampling `pg_stat_activity`.
    wait_pool: PgPool,
    /// Measurements that started while other work kept the machine busy.
    busy_starts: std::sync::Mutex<Vec<String>>,
    /// Notes for the report, such as a server that had to be killed.
    notes: std::sync::Mutex<Vec<String>>,
}

/// How long a server may take to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(15);

/// Busy cores below which the machine counts as idle before a measurement.
const QUIET_THRESHOLD: f64 = 0.3;
/// The maximum wait for an idle machine before a measurement starts anyway.
const QUIET_BUDGET: Duration = Duration::from_secs(45);

/// The maximum wait for an idle machine before the first measurement, after seeding.
const FIRST_QUIET_BUDGET: Duration = Duration::from_secs(300);

impl Bench {
    fn note(&self, note: Option<String>) {
        if let Some(note) = note {
            eprintln!("{note}");
            self.notes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(note);
        }
    }

    /// Waits until other work on the machine stops, and notes when it does not.
    async fn quiet(&self, label: &str) {
        self.quiet_within(label, QUIET_BUDGET).await;
    }

    /// Waits up to `budget` until other work on the machine stops.
    async fn quiet_within(&self, label: &str, budget: Duration) {
        let busy = procfs::wait_for_quiet(self.ticks_per_second, QUIET_THRESHOLD, budget).await;
        if busy >= QUIET_THRESHOLD {
            eprintln!("{label}: the machine is still busy ({busy:.2} cores); measuring anyway");
            self.busy_starts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(format!("{label} ({busy:.2} busy cores)"));
        }
    }
}

/// Runs every phase and writes the results.
pub async fn run(args: RunArgs) -> Result<()> {
    let started = Instant::now();
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("failed to create {}", args.out_dir.display()))?;
    let mut plan = Plan::new(args.quick);
    if !args.subscribers.is_empty() {
        plan.subscribers.clone_from(&args.subscribers);
    }
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1_024)
        .timeout(Duration::from_secs(60))
        .build()?;
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .connect(&args.database_url)
        .await
        .with_context(|| format!("failed to connect to {}", args.database_url))?;
    let wait_pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&args.database_url)
        .await?;
    let secret = random_secret(48);
    let token = sign_token(
        &secret,
        JWT_ISSUER,
        JWT_AUDIENCE,
        "bench-owner",
        "Bench Owner",
    )?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let bench = Bench {
        pids: PidFile(args.out_dir.join("pids")),
        ticks_per_second: clock_ticks().await,
        args,
        plan,
        client,
        cores,
        secret,
        token,
        pool,
        wait_pool,
        busy_starts: std::sync::Mutex::default(),
        notes: std::sync::Mutex::default(),
    };
    let mut results = Results {
        started_at: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        mode: if bench.args.quick { "quick" } else { "full" }.to_owned(),
        command: bench.args.command.clone(),
        note: bench.args.note.clone(),
        machine: machine(&bench).await,
        revision: revision().await,
        sizes: Some(bench.plan.sizes.clone()),
        load_average_start: procfs::load_average(),
        ..Results::default()
    };

    let mut headway = start_headway(&bench, "headway", &bench.args.database_url).await?;
    let outcome = measure(&bench, &mut headway, &mut results).await;
    results.memory.high_water = procfs::status_bytes(headway.pid, "VmHWM").unwrap_or(0);
    match headway.stop(STOP_GRACE).await {
        Ok(note) => bench.note(note),
        Err(error) => results
            .failures
            .push(format!("stopping Headway: {error:#}")),
    }
    if let Err(error) = outcome {
        results
            .failures
            .push(format!("the run stopped early: {error:#}"));
    }
    bench.pool.close().await;
    bench.wait_pool.close().await;

    results.notes = bench
        .notes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    results.busy_starts = bench
        .busy_starts
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    results.total_seconds = started.elapsed().as_secs_f64();
    results.load_average_end = procfs::load_average();
    results.targets = report::check_targets(&results);
    let rendered = report::render(&results);
    std::fs::write(
        bench.args.out_dir.join("results.json"),
        serde_json::to_string_pretty(&results)?,
    )?;
    std::fs::write(bench.args.out_dir.join("report.md"), &rendered)?;
    if let Some(path) = &bench.args.record {
        let previous = std::fs::read_to_string(path)
            .ok()
            .and_then(|text| report::previous_commit(&text));
        let changes = changes_since(previous.as_deref(), bench.args.note.as_deref()).await;
        report::record(path, &results, &rendered, &changes)?;
        eprintln!("recorded the figures in {}", path.display());
    }
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{rendered}")?;
    writeln!(
        stdout,
        "Results: {}",
        bench.args.out_dir.join("results.json").display()
    )?;
    Ok(())
}

/// Runs the phases after Headway started. A failed phase is recorded and the next one runs.
async fn measure(bench: &Bench, headway: &mut Server, results: &mut Results) -> Result<()> {
    writes::settle().await;
    results.memory.idle_empty = procfs::rss_bytes(headway.pid).unwrap_or(0);
    let api = Api::new(
        bench.client.clone(),
        graphql_url(headway.port),
        bench.token.clone(),
    );
    let dataset = seed::seed(&api, &bench.plan.sizes)
        .await
        .context("seeding failed")?;
    results.seeding_seconds = dataset.seconds;
    results.seeding_steps = dataset.timings.clone();
    results.rows = row_counts(&bench.pool).await?;
    writes::settle().await;
    results.memory.idle_seeded = procfs::rss_bytes(headway.pid).unwrap_or(0);
    bench
        .quiet_within("the first measurement", FIRST_QUIET_BUDGET)
        .await;

    if bench.args.runs(Phase::Dashboard) {
        match dashboard_phase(bench, headway, &dataset).await {
            Ok(figures) => {
                results.memory.dashboard_peak = figures.headway_peak_rss;
                if !bench.args.no_profile && !bench.args.quick {
                    results.profile =
                        profile(bench, headway, &dataset, figures.headway.peak.concurrency).await;
                }
                results.dashboard = Some(figures);
            }
            Err(error) => results.failures.push(format!("dashboard: {error:#}")),
        }
    }
    if bench.args.runs(Phase::Statements) {
        match statements_phase(bench, &dataset).await {
            Ok(statements) => results.statements = Some(statements),
            Err(error) => results.failures.push(format!("statement count: {error:#}")),
        }
    }
    if bench.args.runs(Phase::CheckIns) {
        match check_in_phase(bench, headway, &api, &dataset).await {
            Ok(check_ins) => results.check_ins = Some(check_ins),
            Err(error) => results.failures.push(format!("check-ins: {error:#}")),
        }
    }
    if bench.args.runs(Phase::Ingestion) {
        match ingestion_phase(bench, headway, &api, &dataset).await {
            Ok(ingestion) => results.ingestion = Some(ingestion),
            Err(error) => results.failures.push(format!("KPI ingestion: {error:#}")),
        }
    }
    if bench.args.runs(Phase::FanOut) {
        match fan_out_phase(bench, &api, &dataset).await {
            Ok((fan_out, with_subscribers)) => {
                results.memory.subscribers =
                    fan_out.headway.last().map_or(0, |run| run.subscribers);
                results.memory.with_subscribers = with_subscribers;
                results.fan_out = Some(fan_out);
            }
            Err(error) => results
                .failures
                .push(format!("subscription fan-out: {error:#}")),
        }
    }
    Ok(())
}

fn graphql_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}/graphql")
}

/// Starts a Headway server on `database_url` and waits until it is ready.
async fn start_headway(bench: &Bench, name: &str, database_url: &str) -> Result<Server> {
    let port = free_port()?;
    let mut command = Command::new(&bench.args.headway_bin);
    command
        .arg("serve")
        .env("HEADWAY_DATABASE_URL", database_url)
        .env("HEADWAY_LISTEN", format!("127.0.0.1:{port}"))
        .env("HEADWAY_MODE", "production")
        .env("HEADWAY_JWT_SECRET", &bench.secret)
        .env("HEADWAY_JWT_ISSUER", JWT_ISSUER)
        .env("HEADWAY_JWT_AUDIENCE", JWT_AUDIENCE)
        .env("HEADWAY_SEED_DEMO", "false")
        .env("HEADWAY_MAX_QUERY_COMPLEXITY", "1000000")
        // All load comes from one user, so the per-user rate limit would cap every figure.
        .env("HEADWAY_RATE_LIMIT_PER_SECOND", "0")
        .env("RUST_LOG", "warn");
    let log = bench.args.out_dir.join(format!("{name}.log"));
    let mut server = Server::spawn(name, command, port, &log, &bench.pids)?;
    let client = bench.client.clone();
    let ready = format!("http://127.0.0.1:{port}/readyz");
    server
        .wait_until_ready(Duration::from_secs(120), || http_ok(&client, &ready))
        .await?;
    Ok(server)
}

/// Starts PostGraphile 4 on the benchmark database with as many cluster workers as cores.
async fn start_postgraphile(bench: &Bench, directory: &std::path::Path) -> Result<Server> {
    let script = directory.join("node_modules/.bin/postgraphile");
    if !script.exists() {
        bail!(
            "{} is missing; benches/run installs postgraphile@4 there",
            script.display()
        );
    }

    let port = free_port()?;
    let workers = bench.cores.max(1);
    let mut command = Command::new("node");
    command
        .arg(&script)
        .args(["--connection", &bench.args.database_url])
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--schema", "public"])
        .args(["--cluster-workers", &workers.to_string()])
        // Each worker has its own pool, so this keeps the total at Headway's default of 16.
        .args(["--max-pool-size", &(16 / workers).max(1).to_string()])
        .args(["--jwt-secret", &bench.secret])
        .args([
            "--jwt-verify-audience",
            JWT_AUDIENCE,
            "--jwt-verify-issuer",
            JWT_ISSUER,
        ])
        .args(["--disable-query-log", "--disable-graphiql"])
        .env("NODE_ENV", "production");

    let log = bench.args.out_dir.join("postgraphile.log");
    let mut server = Server::spawn("PostGraphile", command, port, &log, &bench.pids)?;
    let client = bench.client.clone();
    let url = graphql_url(port);
    server
        .wait_until_ready(Duration::from_secs(120), || {
            let client = client.clone();
            let url = url.clone();
            async move {
                client
                    .post(&url)
                    .json(&json!({ "query": "{ __typename }" }))
                    .send()
                    .await
                    .is_ok_and(|response| response.status().is_success())
            }
        })
        .await?;
    // Cluster workers start listening one by one, so give the last one a moment.
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(server)
}

/// Runs the closed-loop levels, keeps the best, then runs open loop at half its rate.
async fn measure_target(
    bench: &Bench,
    name: &str,
    probe: &Probe,
    server_pid: Option<u32>,
) -> Target {
    let plan = &bench.plan;
    let mut target = Target::default();
    let sampler = WaitSampler::start(bench.wait_pool.clone());
    for &concurrency in &plan.concurrency {
        bench
            .quiet(&format!("{name} with {concurrency} clients"))
            .await;
        let meter = CpuMeter::start(server_pid, bench.ticks_per_second);
        let stats = load::closed_loop(probe, concurrency, plan.warmup, plan.duration).await;
        let cpu = meter.finish();
        eprintln!(
            "{name}: {concurrency} clients: {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms, {} errors",
            stats.rate, stats.p50_ms, stats.p99_ms, stats.errors
        );
        if let Some(error) = &stats.first_error {
            eprintln!("{name}: first error: {error}");
        }
        if stats.rate > target.peak.rate {
            target.peak = stats.clone();
            target.peak_cpu = cpu;
        }
        target.closed.push(stats);
    }
    target.waits = sampler.finish();
    let rate = (target.peak.rate / 2.0).max(1.0);
    bench.quiet(&format!("{name} at half its peak rate")).await;
    target.half_rate = load::open_loop(
        probe,
        rate,
        Duration::from_secs(1),
        plan.open_duration,
        MAX_IN_FLIGHT,
    )
    .await;
    eprintln!(
        "{name}: open loop at {rate:.0} req/s: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {} errors",
        target.half_rate.p50_ms,
        target.half_rate.p99_ms,
        target.half_rate.max_ms,
        target.half_rate.errors
    );
    target
}

async fn dashboard_phase(bench: &Bench, headway: &Server, dataset: &Dataset) -> Result<Dashboard> {
    eprintln!("--- dashboard query");
    let quarter = global_id_uuid(&dataset.quarter)?;
    let headway_body = dashboard::request_body(
        dashboard::HEADWAY_QUERY,
        json!({ "cycle": dataset.quarter }),
    );
    let headway_url = graphql_url(headway.port);
    let (headway_answer, headway_bytes) = dashboard::fetch_once(
        &bench.client,
        &headway_url,
        Some(&bench.token),
        &headway_body,
    )
    .await?;
    let headway_shape = dashboard::headway_shape(&headway_answer)?;
    let raw_answer: serde_json::Value = serde_json::from_slice(
        &dashboard::raw_dashboard(&bench.pool, quarter, chrono::Utc::now()).await?,
    )?;
    let raw_bytes = serde_json::to_vec(&raw_answer)?.len();
    let raw_shape = dashboard::headway_shape(&raw_answer)?;

    let mut postgraphile = None;
    let mut postgraphile_shape = None;
    let mut postgraphile_bytes = 0;
    let postgraphile_body =
        dashboard::request_body(dashboard::POSTGRAPHILE_QUERY, json!({ "cycle": quarter }));
    if let Some(directory) = &bench.args.postgraphile_dir {
        let server = start_postgraphile(bench, directory).await?;
        let (answer, bytes) = dashboard::fetch_once(
            &bench.client,
            &graphql_url(server.port),
            Some(&bench.token),
            &postgraphile_body,
        )
        .await?;
        postgraphile_shape = Some(dashboard::postgraphile_shape(&answer)?);
        postgraphile_bytes = bytes;
        postgraphile = Some(server);
    }
    let (objectives, key_results, check_ins) = dashboard::count(&headway_shape);
    let equivalence = Equivalence {
        objectives,
        key_results,
        check_ins,
        headway_bytes,
        postgraphile_bytes,
        raw_bytes,
        differences: dashboard::compare(
            &headway_shape,
            postgraphile_shape.as_ref().unwrap_or(&headway_shape),
            &raw_shape,
        ),
    };
    if !equivalence.differences.is_empty() {
        eprintln!(
            "the dashboard answers differ: {:?}",
            equivalence.differences
        );
    }

    let probe = dashboard::http_probe(
        bench.client.clone(),
        headway_url,
        Some(bench.token.clone()),
        headway_body,
    );
    let sampler = RssSampler::start(headway.pid, Duration::from_millis(250));
    let headway_target = measure_target(bench, "Headway", &probe, Some(headway.pid)).await;
    let headway_peak_rss = sampler.finish();

    let mut postgraphile_target = None;
    let mut postgraphile_peak_rss = 0;
    if let Some(server) = postgraphile {
        let probe = dashboard::http_probe(
            bench.client.clone(),
            graphql_url(server.port),
            Some(bench.token.clone()),
            postgraphile_body,
        );
        let sampler = RssSampler::start(server.pid, Duration::from_millis(250));
        postgraphile_target =
            Some(measure_target(bench, "PostGraphile", &probe, Some(server.pid)).await);
        postgraphile_peak_rss = sampler.finish();
        bench.note(server.stop(STOP_GRACE).await?);
    }

    let raw_pool = PgPoolOptions::new()
        .max_connections(16)
        .connect(&bench.args.database_url)
        .await?;
    let probe = dashboard::raw_probe(raw_pool.clone(), quarter);
    let raw_target = measure_target(bench, "raw SQL", &probe, None).await;
    raw_pool.close().await;

    Ok(Dashboard {
        equivalence,
        headway: headway_target,
        postgraphile: postgraphile_target,
        raw: raw_target,
        headway_peak_rss,
        postgraphile_peak_rss,
    })
}

/// Profiles the whole machine with `perf` while Headway serves the dashboard.
async fn profile(
    bench: &Bench,
    headway: &Server,
    dataset: &Dataset,
    concurrency: usize,
) -> Vec<String> {
    eprintln!("--- profile of the dashboard load");
    let data = bench.args.out_dir.join("perf.data");
    let body = dashboard::request_body(
        dashboard::HEADWAY_QUERY,
        json!({ "cycle": dataset.quarter }),
    );
    let probe = dashboard::http_probe(
        bench.client.clone(),
        graphql_url(headway.port),
        Some(bench.token.clone()),
        body,
    );
    let recorder = Command::new("perf")
        .args(["record", "-a", "-F", "499", "-o"])
        .arg(&data)
        .args(["--", "sleep", "8"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    let load = load::closed_loop(
        &probe,
        concurrency.max(1),
        Duration::ZERO,
        Duration::from_secs(10),
    );
    let (recorded, _) = tokio::join!(recorder, load);
    if !recorded.is_ok_and(|status| status.success()) {
        return vec!["perf record failed or is not installed; no profile".to_owned()];
    }
    let report = Command::new("perf")
        .args([
            "report",
            "--stdio",
            "--no-children",
            "--sort",
            "comm,dso,sym",
            "--percent-limit",
            "0.7",
            "-i",
        ])
        .arg(&data)
        .output()
        .await;
    let _ = std::fs::remove_file(&data);
    match report {
        Ok(output) => {
            let text = String::from_utf8_lossy(&output.stdout).into_owned();
            let _ = std::fs::write(bench.args.out_dir.join("perf-report.txt"), &text);
            text.lines()
                // `swapper` is the idle task.
                .filter(|line| {
                    !line.starts_with('#') && !line.trim().is_empty() && !line.contains("swapper")
                })
                .take(30)
                .map(|line| line.trim_end().chars().take(150).collect())
                .collect()
        }
        Err(error) => vec![format!("perf report failed: {error}")],
    }
}

/// Counts the statements of one dashboard request on a small and on the large cycle,
/// through a relay between a second Headway process and PostgreSQL.
async fn statements_phase(bench: &Bench, dataset: &Dataset) -> Result<Statements> {
    eprintln!("--- SQL statements per dashboard request");
    let log = StatementLog::default();
    let port = pgproxy::start("127.0.0.1:5432".to_owned(), log.clone()).await?;
    let mut url = reqwest::Url::parse(&bench.args.database_url)?;
    url.set_port(Some(port))
        .map_err(|()| anyhow::anyhow!("the database URL cannot take a port"))?;
    url.query_pairs_mut().append_pair("sslmode", "disable");
    let counting = start_headway(bench, "headway-statements", url.as_str()).await?;

    let outcome = async {
        let api_url = graphql_url(counting.port);
        // Statements that background tasks run while no request is in flight.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let quiet_from = Instant::now();
        tokio::time::sleep(IDLE_WINDOW).await;
        let idle = log.between(quiet_from, Instant::now());

        let small = count_statements(bench, &api_url, &log, &dataset.small_cycle, "pilot").await?;
        let large = count_statements(bench, &api_url, &log, &dataset.quarter, "quarter").await?;
        anyhow::Ok((small, large, idle))
    }
    .await;
    bench.note(counting.stop(STOP_GRACE).await?);

    let (small, large, idle) = outcome?;
    Ok(Statements {
        small,
        large,
        repository_test: bench.args.statement_test.clone(),
        idle_seconds: IDLE_WINDOW.as_secs_f64(),
        idle_statements: idle
            .iter()
            .map(|statement| pgproxy::abbreviate(statement))
            .collect(),
    })
}

/// Counts the statements of dashboard requests on `cycle`, one request at a time.
async fn count_statements(
    bench: &Bench,
    api_url: &str,
    log: &StatementLog,
    cycle: &str,
    name: &str,
) -> Result<StatementCount> {
    let body = dashboard::request_body(dashboard::HEADWAY_QUERY, json!({ "cycle": cycle }));
    // Warm up the server's and the driver's caches so that the count is of a steady request.
    let (answer, _) =
        dashboard::fetch_once(&bench.client, api_url, Some(&bench.token), &body).await?;
    let (objectives, key_results, _) = dashboard::count(&dashboard::headway_shape(&answer)?);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut count = StatementCount {
        cycle: name.to_owned(),
        objectives,
        key_results,
        check_ins_in_cycle: check_ins_in_cycle(&bench.pool, global_id_uuid(cycle)?).await?,
        ..StatementCount::default()
    };
    let mut lists = Vec::new();
    for _ in 0..STATEMENT_SAMPLES {
        let sent = Instant::now();
        dashboard::fetch_once(&bench.client, api_url, Some(&bench.token), &body).await?;
        let statements = log.between(sent, Instant::now());
        count.counts.push(statements.len());
        lists.push(statements);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Background tasks share the connection pool, so one of their statements can fall
    // inside a request. The most frequent count is the request's own.
    count.per_request = most_frequent(&count.counts);
    count.statements = lists
        .iter()
        .find(|list| list.len() == count.per_request)
        .map(|list| {
            list.iter()
                .map(|statement| pgproxy::abbreviate(statement))
                .collect()
        })
        .unwrap_or_default();
    eprintln!(
        "statements per request on {objectives} objectives: {:?}",
        count.counts
    );
    Ok(count)
}

/// Dashboard requests counted at each data size.
const STATEMENT_SAMPLES: usize = 7;
/// How long the relay watches a server without requests for background statements.
const IDLE_WINDOW: Duration = Duration::from_secs(5);

/// Returns the value that occurs most often, and the smallest of equally frequent ones.
fn most_frequent(values: &[usize]) -> usize {
    let mut best = (0, 0);
    for value in values {
        let occurrences = values.iter().filter(|other| *other == value).count();
        if occurrences > best.1 || (occurrences == best.1 && *value < best.0) {
            best = (*value, occurrences);
        }
    }
    best.0
}

async fn check_ins_in_cycle(pool: &PgPool, cycle: uuid::Uuid) -> Result<i64> {
    let count: (i64,) = sqlx::query_as(
        "SELECT count(*) FROM check_ins ci JOIN key_results k ON k.id = ci.key_result_id JOIN objectives o ON o.id = k.objective_id WHERE o.cycle_id = $1",
    )
    .bind(cycle)
    .fetch_one(pool)
    .await?;
    Ok(count.0)
}

async fn check_in_phase(
    bench: &Bench,
    headway: &Server,
    api: &Api,
    dataset: &Dataset,
) -> Result<CheckIns> {
    eprintln!("--- check-ins");
    let plan = &bench.plan;
    let probe = writes::check_in_probe(api.clone(), &dataset.key_results);
    bench.quiet("check-ins by 1 client").await;
    let single = load::closed_loop(&probe, 1, plan.warmup, plan.duration).await;
    eprintln!(
        "check-ins, 1 client: {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms",
        single.rate, single.p50_ms, single.p99_ms
    );
    let mut result = CheckIns {
        single,
        ..CheckIns::default()
    };
    let sampler = WaitSampler::start(bench.wait_pool.clone());
    for &concurrency in &plan.check_in_concurrency {
        bench
            .quiet(&format!("check-ins by {concurrency} clients"))
            .await;
        let meter = CpuMeter::start(Some(headway.pid), bench.ticks_per_second);
        let stats = load::closed_loop(&probe, concurrency, plan.warmup, plan.duration).await;
        let cpu = meter.finish();
        eprintln!(
            "check-ins, {concurrency} clients: {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms, {} errors",
            stats.rate, stats.p50_ms, stats.p99_ms, stats.errors
        );
        if let Some(error) = &stats.first_error {
            eprintln!("check-ins: first error: {error}");
        }
        if stats.rate > result.peak.rate {
            result.peak = stats.clone();
            result.peak_cpu = cpu;
        }
        result.closed.push(stats);
    }
    result.waits = sampler.finish();
    Ok(result)
}

async fn ingestion_phase(
    bench: &Bench,
    headway: &Server,
    api: &Api,
    dataset: &Dataset,
) -> Result<KpiIngestion> {
    eprintln!("--- KPI ingestion");
    let plan = &bench.plan;
    writes::settle().await;
    bench
        .quiet("recordKpiMeasurements, one batch at a time")
        .await;
    let serial_batches = (plan.ingestion_batches / 4).max(2);
    let headway_serial =
        writes::ingest_through_headway(api, &dataset.kpis, serial_batches, 1, 5).await?;
    report_ingestion("recordKpiMeasurements, 1 batch at a time", &headway_serial);

    writes::settle().await;
    bench.quiet("recordKpiMeasurements").await;
    let meter = CpuMeter::start(Some(headway.pid), bench.ticks_per_second);
    let sampler = WaitSampler::start(bench.wait_pool.clone());
    let through_headway = writes::ingest_through_headway(
        api,
        &dataset.kpis,
        plan.ingestion_batches,
        plan.ingestion_parallel,
        15,
    )
    .await?;
    let headway_waits = sampler.finish();
    let headway_cpu = meter.finish();
    report_ingestion(
        &format!(
            "recordKpiMeasurements, {} batches at a time",
            plan.ingestion_parallel
        ),
        &through_headway,
    );

    let organization: (uuid::Uuid,) = sqlx::query_as("SELECT organization_id FROM kpis LIMIT 1")
        .fetch_one(&bench.pool)
        .await?;
    let kpis: Vec<uuid::Uuid> = dataset
        .kpis
        .iter()
        .map(|id| global_id_uuid(id))
        .collect::<Result<_>>()?;
    writes::settle().await;
    bench.quiet("raw INSERTs").await;
    let meter = CpuMeter::start(None, bench.ticks_per_second);
    let sampler = WaitSampler::start(bench.wait_pool.clone());
    let raw = writes::ingest_with_sql(
        &bench.pool,
        organization.0,
        &kpis,
        plan.ingestion_batches,
        plan.ingestion_parallel,
        45,
    )
    .await?;
    let raw_waits = sampler.finish();
    let raw_cpu = meter.finish();
    report_ingestion("raw INSERT", &raw);
    Ok(KpiIngestion {
        headway_serial,
        headway: through_headway,
        headway_cpu,
        headway_waits,
        raw,
        raw_cpu,
        raw_waits,
    })
}

fn report_ingestion(label: &str, run: &writes::Ingestion) {
    eprintln!(
        "{label}: {:.0} rows/s, batch p50 {:.0} ms, {} failed batches",
        run.per_second, run.batch.p50_ms, run.batch.errors
    );
    if let Some(error) = &run.batch.first_error {
        eprintln!("{label}: first error: {error}");
    }
}

/// Measures fan-out on Headway and on the broadcast peer; also returns Headway's resident
/// memory with the most subscribers connected.
async fn fan_out_phase(bench: &Bench, api: &Api, dataset: &Dataset) -> Result<(FanOuts, u64)> {
    eprintln!("--- subscription fan-out");
    let objective = dataset
        .small_objectives
        .first()
        .context("no objective for the fan-out key result")?;
    let key_result =
        seed::create_counter_key_result(api, objective, "Fan-out probe", 1_000_000_000).await?;
    // A fresh process, so that memory freed by earlier phases and kept by the allocator
    // does not hide what the subscriptions take.
    let server = start_headway(bench, "headway-fan-out", &bench.args.database_url).await?;
    let outcome = headway_fan_out(bench, &server, &key_result).await;
    bench.note(server.stop(STOP_GRACE).await?);
    let (headway_runs, headway_cpu, with_subscribers) = outcome?;
    let (peer_runs, peer_cpu) = peer_fan_out(bench).await?;
    Ok((
        FanOuts {
            headway: headway_runs,
            headway_cpu,
            peer: peer_runs,
            peer_cpu,
        },
        with_subscribers,
    ))
}

/// Subscribers on `server` receive the check-ins of `key_result`; returns the runs, the
/// CPU use of each, and the server's resident memory with the most subscribers.
async fn headway_fan_out(
    bench: &Bench,
    server: &Server,
    key_result: &str,
) -> Result<(Vec<FanOut>, Vec<CpuShare>, u64)> {
    let api = Api::new(
        bench.client.clone(),
        graphql_url(server.port),
        bench.token.clone(),
    );
    let check_in = "mutation($input: CreateCheckInInput!) { createCheckIn(input: $input) { checkIn { id } userErrors { field message code } } }";
    let payload = json!({ "query": fanout::PROGRESS_SUBSCRIPTION, "variables": { "scope": { "keyResultId": key_result } } });
    let mut subscribers = Subscribers::new(
        &graphql_url(server.port),
        Some(format!("Bearer {}", bench.token)),
        payload,
    );

    let mut runs = Vec::new();
    let mut cpus = Vec::new();
    let mut value = 1_000.0;
    let mut round_number = 0;
    bench.quiet("Headway fan-out").await;
    let baseline = procfs::rss_bytes(server.pid).unwrap_or(0);
    let mut with_subscribers = 0;

    for &count in &bench.plan.subscribers {
        let connecting = Instant::now();
        subscribers.grow_to(count, CONNECT_BATCH).await?;
        let connect_seconds = connecting.elapsed().as_secs_f64();
        eprintln!(
            "Headway: {} subscribers connected in {connect_seconds:.1} s",
            subscribers.len()
        );
        writes::settle().await;
        let idle = procfs::rss_bytes(server.pid).unwrap_or(0);
        with_subscribers = idle;

        let meter = CpuMeter::start(Some(server.pid), bench.ticks_per_second);
        let mut rounds = Vec::new();
        // The first round is a warm-up: it also proves that every subscription is live.
        for round in 0..=bench.plan.rounds {
            value += 1.0;
            round_number += 1;
            let input =
                json!({ "input": { "keyResultId": key_result, "value": format!("{value}") } });
            let outcome = subscribers
                .round(round_number, value, Duration::from_secs(15), async {
                    api.mutate("createCheckIn", check_in, input)
                        .await
                        .map(|_| ())
                })
                .await?;
            if round > 0 {
                rounds.push(outcome);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        cpus.push(meter.finish());

        let run = fan_out_run(
            count,
            &subscribers,
            &rounds,
            Memory {
                baseline,
                idle,
                previous: runs.last(),
            },
            connect_seconds,
        );
        report_fan_out("Headway", &run);
        runs.push(run);
    }

    subscribers.close();
    Ok((runs, cpus, with_subscribers))
}

/// A server's resident memory around one subscriber count.
struct Memory<'a> {
    /// Before the first subscriber connected.
    baseline: u64,
    /// With the subscribers connected and idle.
    idle: u64,
    /// The run at the previous, smaller subscriber count.
    previous: Option<&'a FanOut>,
}

/// Sums up the rounds of one subscriber count, with the memory per subscription.
fn fan_out_run(
    count: usize,
    subscribers: &Subscribers,
    rounds: &[(Vec<Duration>, Duration)],
    memory: Memory<'_>,
    connect_seconds: f64,
) -> FanOut {
    let mut run = fanout::summarize_rounds(count, rounds);
    run.lost_connections = subscribers.lost.load(std::sync::atomic::Ordering::Relaxed);
    run.rss_before = memory.baseline;
    run.rss_idle = memory.idle;
    run.bytes_per_subscription = memory.idle.saturating_sub(memory.baseline) as f64 / count as f64;
    run.marginal_bytes_per_subscription = memory.previous.map(|previous| {
        memory.idle.saturating_sub(previous.rss_idle) as f64
            / count.saturating_sub(previous.subscribers).max(1) as f64
    });
    run.connect_seconds = connect_seconds;
    run
}

fn report_fan_out(name: &str, run: &FanOut) {
    eprintln!(
        "{name}: {} subscribers: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {} missed, {:.1} KiB per subscription",
        run.subscribers,
        run.delivery.p50_ms,
        run.delivery.p99_ms,
        run.delivery.max_ms,
        run.missed,
        run.bytes_per_subscription / 1024.0
    );
}

/// Runs the same fan-out against the raw broadcast peer in its own process.
async fn peer_fan_out(bench: &Bench) -> Result<(Vec<FanOut>, Vec<CpuShare>)> {
    let port = free_port()?;
    let mut command = Command::new(std::env::current_exe()?);
    command.args(["broadcast-server", "--port", &port.to_string()]);
    let log = bench.args.out_dir.join("broadcast-peer.log");
    let mut peer = Server::spawn("broadcast peer", command, port, &log, &bench.pids)?;
    peer.wait_until_ready(Duration::from_secs(10), || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
    })
    .await?;
    let outcome = async {
        let url = format!("http://127.0.0.1:{port}/");
        let mut publisher = Publisher::connect(&url).await?;
        let mut subscribers = Subscribers::new(
            &url,
            None,
            json!({ "query": fanout::PROGRESS_SUBSCRIPTION }),
        );
        bench.quiet("broadcast peer fan-out").await;
        let baseline = procfs::rss_bytes(peer.pid).unwrap_or(0);
        let mut runs = Vec::new();
        let mut cpus = Vec::new();
        let mut value = 1_000.0;
        let mut round_number = 0;
        for &count in &bench.plan.subscribers {
            let connecting = Instant::now();
            subscribers.grow_to(count, CONNECT_BATCH).await?;
            let connect_seconds = connecting.elapsed().as_secs_f64();
            writes::settle().await;
            let idle = procfs::rss_bytes(peer.pid).unwrap_or(0);
            let meter = CpuMeter::start(Some(peer.pid), bench.ticks_per_second);
            let mut rounds = Vec::new();
            for round in 0..=bench.plan.rounds {
                value += 1.0;
                round_number += 1;
                let outcome = subscribers
                    .round(
                        round_number,
                        value,
                        Duration::from_secs(15),
                        publisher.publish(round_number, value),
                    )
                    .await?;
                if round > 0 {
                    rounds.push(outcome);
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            cpus.push(meter.finish());
            let run = fan_out_run(
                count,
                &subscribers,
                &rounds,
                Memory {
                    baseline,
                    idle,
                    previous: runs.last(),
                },
                connect_seconds,
            );
            report_fan_out("broadcast peer", &run);
            runs.push(run);
        }
        subscribers.close();
        anyhow::Ok((runs, cpus))
    }
    .await;
    bench.note(peer.stop(STOP_GRACE).await?);
    outcome
}

async fn row_counts(pool: &PgPool) -> Result<Vec<(String, i64)>> {
    let mut counts = Vec::new();
    for table in [
        "teams",
        "users",
        "cycles",
        "objectives",
        "key_results",
        "check_ins",
        "kpis",
        "kpi_measurements",
        "events",
    ] {
        // The table names are the constants above, not input.
        let statement = sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}"));
        let count: (i64,) = sqlx::query_as(statement).fetch_one(pool).await?;
        counts.push((table.to_owned(), count.0));
    }
    Ok(counts)
}

async fn clock_ticks() -> f64 {
    let output = Command::new("getconf").arg("CLK_TCK").output().await;
    output
        .ok()
        .and_then(|output| String::from_utf8_lossy(&output.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

async fn command_output(program: &str, args: &[&str]) -> String {
    match Command::new(program).args(args).output().await {
        Ok(output) if output.status.success() => {
            String::from_utf8_lossy(&output.stdout).trim().to_owned()
        }
        _ => "unknown".to_owned(),
    }
}

async fn machine(bench: &Bench) -> report::Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|line| {
            line.strip_prefix("model name")
                .and_then(|rest| rest.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let memory_gib =
        procfs::meminfo_total_bytes().map_or(0.0, |bytes| bytes as f64 / 1_073_741_824.0);
    let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let os = os_release
        .lines()
        .find_map(|line| line.strip_prefix("PRETTY_NAME="))
        .map_or_else(
            || "unknown".to_owned(),
            |name| name.trim_matches('"').to_owned(),
        );
    let postgres: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&bench.pool)
        .await
        .unwrap_or_else(|_| "unknown".to_owned());
    let postgraphile = bench
        .args
        .postgraphile_dir
        .as_ref()
        .and_then(|directory| {
            std::fs::read_to_string(directory.join("node_modules/postgraphile/package.json")).ok()
        })
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|package| package["version"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "not installed".to_owned());
    report::Machine {
        cpu_model,
        cores: bench.cores,
        memory_gib,
        os,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_owned(),
        postgres,
        postgraphile,
        node: command_output("node", &["--version"]).await,
        rustc: command_output("rustc", &["--version"]).await,
    }
}

async fn revision() -> report::Revision {
    let commit = command_output("git", &["rev-parse", "HEAD"]).await;
    let status = command_output("git", &["status", "--porcelain"]).await;
    report::Revision {
        commit,
        uncommitted_files: status
            .lines()
            .filter(|line| !line.trim().is_empty())
            .count(),
    }
}

/// Describes the commits since the previous recorded run, with the user's note first.
async fn changes_since(previous: Option<&str>, note: Option<&str>) -> String {
    let commits = match previous {
        Some(commit) => {
            let range = format!("{commit}..HEAD");
            let log = command_output("git", &["log", "--format=%h %s", &range]).await;
            let subjects: Vec<&str> = log.lines().filter(|line| !line.trim().is_empty()).collect();
            match subjects.len() {
                0 => "no new commits".to_owned(),
                1 => format!("1 new commit ({})", subjects[0]),
                count => format!(
                    "{count} new commits ({})",
                    subjects
                        .iter()
                        .take(8)
                        .copied()
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            }
        }
        None => "first recorded run".to_owned(),
    };
    match note {
        Some(note) => format!("{}. Commits: {commits}.", note.trim_end_matches('.')),
        None => format!("{commits}."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_frequent_ignores_rare_outliers() {
        assert_eq!(most_frequent(&[11, 13, 11, 11, 12]), 11);
        assert_eq!(most_frequent(&[13, 11]), 11);
        assert_eq!(most_frequent(&[]), 0);
    }
}
