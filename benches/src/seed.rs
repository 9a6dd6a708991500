//! Builds the benchmark's organization through Headway's GraphQL API.

use crate::api::{Api, check_user_errors, string_at};
use anyhow::{Context, Result, bail};
use chrono::{DateTime, Datelike, Duration as TimeDelta, NaiveDate, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{Value, json};
use std::time::Instant;

/// The size of the seeded organization.
#[derive(Clone, Debug, Serialize)]
pub struct Sizes {
    pub teams: usize,
    /// Members besides the owner; objectives are owned by all of them in turn.
    pub members: usize,
    /// Objectives of the year cycle that the quarter's objectives align to.
    pub company_objectives: usize,
    /// Objectives of the active quarter.
    pub objectives: usize,
    pub key_results: usize,
    pub check_ins: usize,
    pub kpis: usize,
    /// Days of daily values per KPI.
    pub kpi_days: usize,
}

impl Sizes {
    pub fn full() -> Self {
        Self {
            teams: 30,
            members: 20,
            company_objectives: 5,
            objectives: 200,
            key_results: 800,
            check_ins: 20_000,
            kpis: 50,
            kpi_days: 365,
        }
    }

    pub fn quick() -> Self {
        Self {
            teams: 10,
            members: 5,
            company_objectives: 3,
            objectives: 40,
            key_results: 160,
            check_ins: 2_000,
            kpis: 10,
            kpi_days: 90,
        }
    }
}

/// Objectives and key results of the small cycle that the statement count compares with.
const SMALL_OBJECTIVES: usize = 5;
const SMALL_KEY_RESULTS_PER_OBJECTIVE: usize = 2;

/// Check-ins sent in one GraphQL document, as aliased mutations that run in order.
const CHECK_INS_PER_DOCUMENT: usize = 20;
/// Concurrent requests while seeding check-ins and measurements.
const SEED_CONCURRENCY: usize = 4;
/// The largest batch that recordKpiMeasurements accepts.
pub const MEASUREMENT_BATCH: usize = 1_000;

/// A seeded key result.
#[derive(Clone, Debug)]
pub struct KeyResult {
    pub id: String,
    pub kind: &'static str,
}

/// The records that the seeding created, with their global ids.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub quarter: String,
    pub small_cycle: String,
    pub small_objectives: Vec<String>,
    pub key_results: Vec<KeyResult>,
    pub kpis: Vec<String>,
    pub timings: Vec<(String, f64)>,
    pub seconds: f64,
}

const ORGANIZATION: &str = "mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { id } userErrors { field message code } } }";
const UPDATE_ORGANIZATION: &str = "mutation($input: UpdateOrganizationInput!) { updateOrganization(input: $input) { organization { id } userErrors { field message code } } }";
const ADD_MEMBER: &str = "mutation($input: AddMemberInput!) { addMember(input: $input) { membership { user { id } } userErrors { field message code } } }";
const TEAM: &str = "mutation($input: CreateTeamInput!) { createTeam(input: $input) { team { id } userErrors { field message code } } }";
const CYCLE: &str = "mutation($input: CreateCycleInput!) { createCycle(input: $input) { cycle { id } userErrors { field message code } } }";
const OBJECTIVE: &str = "mutation($input: CreateObjectiveInput!) { createObjective(input: $input) { objective { id } userErrors { field message code } } }";
const KEY_RESULT: &str = "mutation($input: CreateKeyResultInput!) { createKeyResult(input: $input) { keyResult { id } userErrors { field message code } } }";
const KPI: &str = "mutation($input: CreateKpiInput!) { createKpi(input: $input) { kpi { id } userErrors { field message code } } }";
pub const RECORD_MEASUREMENTS: &str = "mutation($input: RecordKpiMeasurementsInput!) { recordKpiMeasurements(input: $input) { recordedCount rejectedCount userErrors { field message code } } }";

/// Returns the first and last day of the quarter and of the year that contain `today`.
pub fn quarter_and_year(
    today: NaiveDate,
) -> Result<((NaiveDate, NaiveDate), (NaiveDate, NaiveDate))> {
    let first_month = (today.month0() / 3) * 3 + 1;
    let quarter_start =
        NaiveDate::from_ymd_opt(today.year(), first_month, 1).context("invalid quarter start")?;
    let next_quarter = if first_month == 10 {
        NaiveDate::from_ymd_opt(today.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(today.year(), first_month + 3, 1)
    }
    .context("invalid quarter end")?;
    let year_start = NaiveDate::from_ymd_opt(today.year(), 1, 1).context("invalid year")?;
    let year_end = NaiveDate::from_ymd_opt(today.year(), 12, 31).context("invalid year")?;
    Ok((
        (quarter_start, next_quarter - TimeDelta::days(1)),
        (year_start, year_end),
    ))
}

fn timestamp(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

struct Step {
    name: &'static str,
    started: Instant,
}

impl Step {
    fn begin(name: &'static str) -> Self {
        eprintln!("seeding: {name}");
        Self {
            name,
            started: Instant::now(),
        }
    }

    fn end(self, timings: &mut Vec<(String, f64)>) {
        let seconds = self.started.elapsed().as_secs_f64();
        eprintln!("seeding: {} took {seconds:.1} s", self.name);
        timings.push((self.name.to_owned(), seconds));
    }
}

/// Creates the organization, its people, teams, cycles, objectives, key results,
/// check-ins and KPIs, all through the API.
pub async fn seed(api: &Api, sizes: &Sizes) -> Result<Dataset> {
    let started = Instant::now();
    let mut timings = Vec::new();
    let mut rng = StdRng::seed_from_u64(20_261_204);
    let now = Utc::now();
    let ((quarter_start, quarter_end), (year_start, year_end)) =
        quarter_and_year(now.date_naive())?;

    let step = Step::begin("organization, members and teams");
    api.mutate(
        "createOrganization",
        ORGANIZATION,
        json!({ "input": { "name": "Benchmark Corporation", "timeZone": "UTC" } }),
    )
    .await?;
    api.mutate(
        "updateOrganization",
        UPDATE_ORGANIZATION,
        json!({ "input": { "objectiveLimit": 100, "keyResultLimit": 100, "enforceLimits": false } }),
    )
    .await?;
    let viewer = api.request("{ viewer { user { id } } }", json!({})).await?;
    let owner_user_id = string_at(&viewer, "/viewer/user/id")?;
    let mut people = vec![owner_user_id.clone()];
    for index in 0..sizes.members {
        let payload = api
            .mutate(
                "addMember",
                ADD_MEMBER,
                json!({ "input": { "email": format!("member{index}@bench.example.com"), "name": format!("Member {index}"), "role": "MEMBER" } }),
            )
            .await?;
        people.push(string_at(&payload, "/membership/user/id")?);
    }
    // A few departments at the top, the other teams below them.
    let departments = (sizes.teams / 6).max(1);
    let mut teams: Vec<String> = Vec::with_capacity(sizes.teams);
    for index in 0..sizes.teams {
        let parent = (index >= departments).then(|| teams[index % departments].clone());
        let payload = api
            .mutate(
                "createTeam",
                TEAM,
                json!({ "input": { "name": format!("Team {index}"), "parentId": parent } }),
            )
            .await?;
        teams.push(string_at(&payload, "/team/id")?);
    }
    step.end(&mut timings);

    let step = Step::begin("cycles and objectives");
    let year = create_cycle(
        api,
        &format!("{}", year_start.year()),
        year_start,
        year_end,
        None,
    )
    .await?;
    let quarter_name = format!(
        "Q{} {}",
        quarter_start.month0() / 3 + 1,
        quarter_start.year()
    );
    let quarter = create_cycle(api, &quarter_name, quarter_start, quarter_end, Some(&year)).await?;
    let small_cycle = create_cycle(
        api,
        &format!("{quarter_name} pilot"),
        quarter_start,
        quarter_end,
        Some(&year),
    )
    .await?;

    let mut company = Vec::with_capacity(sizes.company_objectives);
    for index in 0..sizes.company_objectives {
        company.push(
            create_objective(
                api,
                json!({ "cycleId": year, "title": format!("Company objective {index}"), "ownerId": owner_user_id, "progressSource": "CHILD_OBJECTIVES" }),
            )
            .await?,
        );
    }
    // One objective per team aligned to a company objective, then the rest aligned to
    // those, so that a check-in rolls up three levels.
    let team_level = sizes.teams.min(sizes.objectives);
    let mut objectives = Vec::with_capacity(sizes.objectives);
    for index in 0..sizes.objectives {
        let (parent, team, source) = if index < team_level {
            (&company[index % company.len()], &teams[index], "BOTH")
        } else {
            let parent = index % team_level;
            (&objectives[parent], &teams[parent], "KEY_RESULTS")
        };
        let id = create_objective(
            api,
            json!({
                "cycleId": quarter,
                "title": format!("Objective {index}: grow the {} business", index % 17),
                "ownerId": people[index % people.len()],
                "teamId": team,
                "parentId": parent,
                "progressSource": source,
                "kind": if index.is_multiple_of(4) { "ASPIRATIONAL" } else { "COMMITTED" },
            }),
        )
        .await?;
        objectives.push(id);
    }
    let mut small_objectives = Vec::with_capacity(SMALL_OBJECTIVES);
    for index in 0..SMALL_OBJECTIVES {
        small_objectives.push(
            create_objective(
                api,
                json!({ "cycleId": small_cycle, "title": format!("Pilot objective {index}"), "ownerId": people[index % people.len()] }),
            )
            .await?,
        );
    }
    step.end(&mut timings);

    let step = Step::begin("key results");
    let mut specs = Vec::with_capacity(sizes.key_results);
    for index in 0..sizes.key_results {
        let objective = &objectives[index % objectives.len()];
        specs.push(key_result_spec(&mut rng, objective, index, &people));
    }
    for objective in &small_objectives {
        for index in 0..SMALL_KEY_RESULTS_PER_OBJECTIVE {
            specs.push(key_result_spec(&mut rng, objective, index, &people));
        }
    }
    let created = run_concurrently(specs, SEED_CONCURRENCY, |(input, kind, plan)| {
        let api = api.clone();
        async move {
            let payload = api
                .mutate("createKeyResult", KEY_RESULT, json!({ "input": input }))
                .await?;
            Ok((
                KeyResult {
                    id: string_at(&payload, "/keyResult/id")?,
                    kind,
                },
                plan,
            ))
        }
    })
    .await?;
    step.end(&mut timings);

    let step = Step::begin("check-ins");
    let (key_results, plans): (Vec<KeyResult>, Vec<ValuePlan>) = created.into_iter().unzip();
    let check_ins = check_in_inputs(
        &mut rng,
        &key_results,
        &plans,
        sizes.key_results,
        sizes.check_ins,
        quarter_start,
        now,
    )?;
    seed_check_ins(api, check_ins).await?;
    step.end(&mut timings);

    let step = Step::begin("KPIs and a year of daily values");
    let mut kpis = Vec::with_capacity(sizes.kpis);
    for index in 0..sizes.kpis {
        let input = match index % 3 {
            0 => {
                json!({ "name": format!("KPI {index}: revenue"), "direction": "HIGHER_IS_BETTER", "targetValue": "100", "warningValue": "80", "frequency": "DAILY", "teamId": teams[index % teams.len()] })
            }
            1 => {
                json!({ "name": format!("KPI {index}: latency"), "direction": "LOWER_IS_BETTER", "targetValue": "10", "warningValue": "20", "frequency": "DAILY", "teamId": teams[index % teams.len()] })
            }
            _ => {
                json!({ "name": format!("KPI {index}: stock"), "direction": "WITHIN_RANGE", "rangeLow": "40", "rangeHigh": "60", "warningMargin": "10", "frequency": "DAILY", "teamId": teams[index % teams.len()] })
            }
        };
        let payload = api
            .mutate("createKpi", KPI, json!({ "input": input }))
            .await?;
        kpis.push(string_at(&payload, "/kpi/id")?);
    }
    let first_day = now.date_naive() - TimeDelta::days(sizes.kpi_days as i64);
    let mut measurements = Vec::with_capacity(sizes.kpis * sizes.kpi_days);
    for kpi in &kpis {
        let mut value: f64 = rng.random_range(30.0..90.0);
        for day in 0..sizes.kpi_days {
            value = (value + rng.random_range(-3.0..3.0)).max(0.0);
            let date = first_day + TimeDelta::days(day as i64);
            let observed = date
                .and_hms_opt(0, 0, 0)
                .context("invalid midnight")?
                .and_utc();
            measurements.push(json!({ "kpiId": kpi, "value": format!("{value:.2}"), "observedAt": timestamp(observed) }));
        }
    }
    record_measurements(api, measurements, SEED_CONCURRENCY / 2).await?;
    step.end(&mut timings);

    let seconds = started.elapsed().as_secs_f64();
    eprintln!("seeding took {seconds:.1} s");
    Ok(Dataset {
        quarter,
        small_cycle,
        small_objectives,
        key_results,
        kpis,
        timings,
        seconds,
    })
}

async fn create_cycle(
    api: &Api,
    name: &str,
    start: NaiveDate,
    end: NaiveDate,
    parent: Option<&str>,
) -> Result<String> {
    let payload = api
        .mutate(
            "createCycle",
            CYCLE,
            json!({ "input": { "name": name, "startDate": start.to_string(), "endDate": end.to_string(), "parentId": parent, "state": "ACTIVE" } }),
        )
        .await?;
    string_at(&payload, "/cycle/id")
}

pub async fn create_objective(api: &Api, input: Value) -> Result<String> {
    let payload = api
        .mutate("createObjective", OBJECTIVE, json!({ "input": input }))
        .await?;
    string_at(&payload, "/objective/id")
}

/// Creates an INCREASE_TO key result from 0 to `target` and returns its id.
pub async fn create_counter_key_result(
    api: &Api,
    objective: &str,
    title: &str,
    target: u64,
) -> Result<String> {
    let payload = api
        .mutate(
            "createKeyResult",
            KEY_RESULT,
            json!({ "input": { "objectiveId": objective, "title": title, "type": "INCREASE_TO", "startValue": "0", "targetValue": target.to_string() } }),
        )
        .await?;
    string_at(&payload, "/keyResult/id")
}

/// The course of a key result's check-ins: from `start` toward `target`, reaching `reach` of
/// the way by now, so that pace statuses come out mixed.
#[derive(Clone, Copy, Debug)]
struct ValuePlan {
    start: f64,
    target: f64,
    reach: f64,
}

fn key_result_spec(
    rng: &mut StdRng,
    objective: &str,
    index: usize,
    people: &[String],
) -> (Value, &'static str, ValuePlan) {
    let owner = &people[index % people.len()];
    let reach = rng.random_range(0.1..1.1);
    // Two in five increase, one in five decrease, and the rest are thresholds or done/not done.
    match rng.random_range(0..20) {
        0..=7 => {
            let start = rng.random_range(0.0..100.0_f64).round();
            let target = start + rng.random_range(50.0..500.0_f64).round();
            let (unit, currency) = if index.is_multiple_of(3) {
                ("CURRENCY", Some("USD"))
            } else {
                ("NUMBER", None)
            };
            (
                json!({ "objectiveId": objective, "title": format!("Reach {target} in metric {index}"), "type": "INCREASE_TO", "startValue": start.to_string(), "targetValue": target.to_string(), "unit": unit, "currencyCode": currency, "ownerId": owner }),
                "INCREASE_TO",
                ValuePlan {
                    start,
                    target,
                    reach,
                },
            )
        }
        8..=11 => {
            let start = rng.random_range(100.0..500.0_f64).round();
            let target = (start / 2.0).round();
            (
                json!({ "objectiveId": objective, "title": format!("Cut metric {index} to {target}"), "type": "DECREASE_TO", "startValue": start.to_string(), "targetValue": target.to_string(), "ownerId": owner }),
                "DECREASE_TO",
                ValuePlan {
                    start,
                    target,
                    reach,
                },
            )
        }
        12..=14 => (
            json!({ "objectiveId": objective, "title": format!("Keep uptime {index} at or above 95 %"), "type": "STAY_AT_OR_ABOVE", "targetValue": "95", "unit": "PERCENT", "ownerId": owner }),
            "STAY_AT_OR_ABOVE",
            ValuePlan {
                start: 93.0,
                target: 99.0,
                reach,
            },
        ),
        15..=16 => (
            json!({ "objectiveId": objective, "title": format!("Keep churn {index} at or below 2 %"), "type": "STAY_AT_OR_BELOW", "targetValue": "2", "unit": "PERCENT", "ownerId": owner }),
            "STAY_AT_OR_BELOW",
            ValuePlan {
                start: 0.5,
                target: 3.5,
                reach,
            },
        ),
        _ => (
            json!({ "objectiveId": objective, "title": format!("Ship milestone {index}"), "type": "BOOLEAN", "ownerId": owner }),
            "BOOLEAN",
            ValuePlan {
                start: 0.0,
                target: 1.0,
                reach,
            },
        ),
    }
}

/// Spreads `total` check-ins over the first `counted` key results (the quarter's) and three
/// over each of the rest (the small cycle's), from the quarter's start to now, oldest first
/// per key result.
fn check_in_inputs(
    rng: &mut StdRng,
    key_results: &[KeyResult],
    plans: &[ValuePlan],
    counted: usize,
    total: usize,
    quarter_start: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Vec<Vec<Value>>> {
    let start = quarter_start
        .and_hms_opt(0, 0, 0)
        .context("invalid quarter start")?
        .and_utc();
    // Leave an hour before now so that clock differences never put a check-in in the future.
    let span = (now - TimeDelta::hours(1) - start).num_seconds().max(60);
    let mut per_key_result = Vec::with_capacity(key_results.len());
    for (index, (key_result, plan)) in key_results.iter().zip(plans).enumerate() {
        let count = if index < counted {
            total / counted + usize::from(index < total % counted)
        } else {
            3
        };
        let mut inputs = Vec::with_capacity(count);
        for step in 0..count {
            let share = (step + 1) as f64 / (count + 1) as f64;
            let jitter = rng.random_range(-0.3..0.3) / (count + 1) as f64;
            let offset = ((share + jitter).clamp(0.0, 1.0) * span as f64) as i64;
            let observed = start + TimeDelta::seconds(offset);
            let mut input =
                json!({ "keyResultId": key_result.id, "observedAt": timestamp(observed) });
            let progress = (plan.reach * share + rng.random_range(-0.05..0.05)).max(0.0);
            match key_result.kind {
                "BOOLEAN" => input["done"] = json!(step + 1 == count && plan.reach > 0.6),
                "STAY_AT_OR_ABOVE" | "STAY_AT_OR_BELOW" => {
                    input["value"] =
                        json!(format!("{:.2}", rng.random_range(plan.start..plan.target)));
                }
                _ => {
                    let value = plan.start + (plan.target - plan.start) * progress;
                    input["value"] = json!(format!("{value:.2}"));
                }
            }
            if rng.random_bool(0.7) {
                input["confidence"] = json!(rng.random_range(1..=10));
            }
            if rng.random_bool(0.2) {
                input["comment"] = json!(format!("Update {step}: on plan, see the weekly notes"));
            }
            inputs.push(input);
        }
        per_key_result.push(inputs);
    }
    Ok(per_key_result)
}

/// Sends check-ins in documents of aliased mutations. Each key result's check-ins stay in
/// one worker and in order, so that the newest observation arrives last.
async fn seed_check_ins(api: &Api, per_key_result: Vec<Vec<Value>>) -> Result<()> {
    let mut lanes: Vec<Vec<Value>> = vec![Vec::new(); SEED_CONCURRENCY];
    for (index, inputs) in per_key_result.into_iter().enumerate() {
        lanes[index % SEED_CONCURRENCY].extend(inputs);
    }
    let mut tasks = Vec::new();
    for lane in lanes {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            for chunk in lane.chunks(CHECK_INS_PER_DOCUMENT) {
                send_check_in_document(&api, chunk).await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await.context("a seeding task failed")??;
    }
    Ok(())
}

async fn send_check_in_document(api: &Api, inputs: &[Value]) -> Result<()> {
    let mut declarations = Vec::with_capacity(inputs.len());
    let mut fields = Vec::with_capacity(inputs.len());
    let mut variables = serde_json::Map::new();
    for (index, input) in inputs.iter().enumerate() {
        declarations.push(format!("$i{index}: CreateCheckInInput!"));
        fields.push(format!(
            "c{index}: createCheckIn(input: $i{index}) {{ userErrors {{ field message code }} }}"
        ));
        variables.insert(format!("i{index}"), input.clone());
    }
    let document = format!(
        "mutation({}) {{ {} }}",
        declarations.join(", "),
        fields.join(" ")
    );
    let data = api.request(&document, Value::Object(variables)).await?;
    for index in 0..inputs.len() {
        let payload = data
            .get(format!("c{index}"))
            .cloned()
            .unwrap_or(Value::Null);
        check_user_errors("createCheckIn", &payload)?;
    }
    Ok(())
}

/// Records measurements in batches of up to 1,000 with `concurrency` batches in flight.
pub async fn record_measurements(
    api: &Api,
    measurements: Vec<Value>,
    concurrency: usize,
) -> Result<()> {
    let batches: Vec<Vec<Value>> = measurements
        .chunks(MEASUREMENT_BATCH)
        .map(<[Value]>::to_vec)
        .collect();
    run_concurrently(batches, concurrency.max(1), |batch| {
        let api = api.clone();
        async move { record_batch(&api, batch).await }
    })
    .await?;
    Ok(())
}

/// Records one batch and fails unless every measurement was stored.
pub async fn record_batch(api: &Api, batch: Vec<Value>) -> Result<()> {
    let expected = batch.len() as u64;
    let payload = api
        .mutate(
            "recordKpiMeasurements",
            RECORD_MEASUREMENTS,
            json!({ "input": { "measurements": batch } }),
        )
        .await?;
    let recorded = payload.get("recordedCount").and_then(Value::as_u64);
    if recorded != Some(expected) {
        bail!("recordKpiMeasurements stored {recorded:?} of {expected} measurements: {payload}");
    }
    Ok(())
}

/// Runs `work` on every item with at most `concurrency` at once, and returns the results
/// in input order.
async fn run_concurrently<T, R, F, Fut>(
    items: Vec<T>,
    concurrency: usize,
    work: F,
) -> Result<Vec<R>>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = Result<R>>,
{
    use futures::StreamExt;
    let results: Vec<Result<R>> = futures::stream::iter(items.into_iter().map(work))
        .buffered(concurrency)
        .collect()
        .await;
    results.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarter_of_december_ends_with_the_year() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        let ((start, end), (year_start, year_end)) = quarter_and_year(today).unwrap();
        assert_eq!(start.to_string(), "2026-10-01");
        assert_eq!(end.to_string(), "2026-12-31");
        assert_eq!(year_start.to_string(), "2026-01-01");
        assert_eq!(year_end.to_string(), "2026-12-31");
    }

    #[test]
    fn quarter_of_february_is_the_first() {
        let today = NaiveDate::from_ymd_opt(2026, 2, 15).unwrap();
        let ((start, end), _) = quarter_and_year(today).unwrap();
        assert_eq!(start.to_string(), "2026-01-01");
        assert_eq!(end.to_string(), "2026-03-31");
    }

    #[test]
    fn check_in_inputs_fill_the_plan() {
        let mut rng = StdRng::seed_from_u64(1);
        let key_results: Vec<KeyResult> = (0..7)
            .map(|index| KeyResult {
                id: format!("kr_{index}"),
                kind: if index == 0 { "BOOLEAN" } else { "INCREASE_TO" },
            })
            .collect();
        let plans = vec![
            ValuePlan {
                start: 0.0,
                target: 10.0,
                reach: 0.5
            };
            7
        ];
        let now = "2026-12-04T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let start = NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
        let inputs = check_in_inputs(&mut rng, &key_results, &plans, 5, 23, start, now).unwrap();
        let quarter_total: usize = inputs[..5].iter().map(Vec::len).sum();
        assert_eq!(quarter_total, 23);
        assert_eq!(inputs[5].len(), 3);
        assert!(inputs[0][0].get("done").is_some());
        for input in inputs.iter().flatten() {
            let observed: DateTime<Utc> = input["observedAt"].as_str().unwrap().parse().unwrap();
            assert!(observed < now);
        }
    }
}
