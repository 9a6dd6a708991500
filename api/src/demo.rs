//! The demo organization: a year's company objective, three departments with quarterly
//! objectives aligned to it, twelve key results of mixed types with weeks of check-ins, and
//! three KPIs with a year of daily values.

use anyhow::{Context as _, anyhow};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use headway_domain::ids::{KpiId, ObjectiveId, OrganizationId, TeamId, UserId};
use headway_domain::kpi::{KpiDirection, KpiThresholds, ThresholdFields};
use headway_domain::model::{
    CycleState, KeyResultType, KpiFrequency, Measure, ObjectiveKind, ObjectiveState,
    ProgressSource, Role, Unit, UnitKind,
};
use headway_domain::values::{
    Confidence, CurrencyCode, Description, Email, MetricValue, Name, TimeZone, Title, Weight,
};
use headway_persistence::{
    Actor, NewCheckIn, NewCycle, NewKeyResult, NewKpi, NewMeasurement, NewMember, NewObjective,
    NewOrganization, NewTeam, RecordRef, Store, UserClaims,
};
use rust_decimal::Decimal;

/// The demo organization's owner, who signs in with the printed token.
pub const DEMO_OWNER_SUBJECT: &str = "demo-ada";
pub const DEMO_OWNER_EMAIL: &str = "ada@acme.example";
pub const DEMO_OWNER_NAME: &str = "Ada Lovelace";

/// The seeded organization and its owner.
#[derive(Clone, Copy, Debug)]
pub struct Demo {
    pub organization_id: OrganizationId,
    pub owner_id: UserId,
    /// Whether this call created it (false when it existed already).
    pub created: bool,
}

fn value(text: &str) -> anyhow::Result<MetricValue> {
    MetricValue::parse(text).map_err(|error| anyhow!("demo value {text}: {}", error.message))
}

fn title(text: &str) -> anyhow::Result<Title> {
    Title::parse(text).map_err(|error| anyhow!("demo title {text}: {}", error.message))
}

fn name(text: &str) -> anyhow::Result<Name> {
    Name::parse(text).map_err(|error| anyhow!("demo name {text}: {}", error.message))
}

fn rejected(error: headway_persistence::StoreError) -> anyhow::Error {
    anyhow!("seeding the demo failed: {error}")
}

/// A key result of the demo with its start, target and the share of the way it has come.
struct DemoKeyResult {
    title: &'static str,
    kind: KeyResultType,
    start: Option<&'static str>,
    target: Option<&'static str>,
    unit: UnitKind,
    /// Progress reached by now, as a share of the way from start to target.
    reached: f64,
}

/// Seeds the demo organization unless its owner already has one.
pub async fn seed(store: &Store) -> anyhow::Result<Demo> {
    let owner_claims = UserClaims {
        external_id: DEMO_OWNER_SUBJECT.to_owned(),
        email: Email::parse(DEMO_OWNER_EMAIL).ok(),
        name: Some(DEMO_OWNER_NAME.to_owned()),
    };
    let owner = store
        .provision_user(&owner_claims)
        .await
        .map_err(rejected)?;
    if let Some(membership) = store
        .memberships_of_user(owner.id)
        .await
        .map_err(rejected)?
        .first()
        .map(|(membership, _)| membership)
    {
        return Ok(Demo {
            organization_id: membership.organization_id,
            owner_id: owner.id,
            created: false,
        });
    }

    let now = store.now();
    let time_zone = TimeZone::parse("Europe/Berlin").map_err(|error| anyhow!(error.message))?;
    let (organization, _) = store
        .create_organization(
            owner.id,
            NewOrganization {
                name: name("Acme Corporation")?,
                time_zone,
            },
        )
        .await
        .map_err(rejected)?;
    let actor = Actor::user(organization.id, owner.id);

    let mut people = Vec::new();
    for (email, person, role) in [
        ("grace@acme.example", "Grace Hopper", Role::Admin),
        ("linus@acme.example", "Linus Torvalds", Role::Member),
        ("margaret@acme.example", "Margaret Hamilton", Role::Member),
        ("ken@acme.example", "Ken Thompson", Role::Viewer),
    ] {
        let membership = store
            .add_member(
                actor,
                NewMember {
                    email: Email::parse(email).map_err(|error| anyhow!(error.message))?,
                    name: Some(name(person)?),
                    role,
                },
            )
            .await
            .map_err(rejected)?;
        people.push(membership.user_id);
    }

    let company = create_team(store, actor, "Acme", None).await?;
    let sales = create_team(store, actor, "Sales", Some(company)).await?;
    let product = create_team(store, actor, "Product", Some(company)).await?;
    let engineering = create_team(store, actor, "Engineering", Some(company)).await?;

    // The current year and quarter, so that pace and staleness look alive.
    let today = now.date_naive();
    let year_start = NaiveDate::from_ymd_opt(today.year(), 1, 1).context("year start")?;
    let year_end = NaiveDate::from_ymd_opt(today.year(), 12, 31).context("year end")?;
    let quarter = (today.month0() / 3) * 3 + 1;
    let quarter_start =
        NaiveDate::from_ymd_opt(today.year(), quarter, 1).context("quarter start")?;
    let quarter_end = if quarter == 10 {
        year_end
    } else {
        NaiveDate::from_ymd_opt(today.year(), quarter + 3, 1)
            .and_then(|next| next.pred_opt())
            .context("quarter end")?
    };
    let year = store
        .create_cycle(
            actor,
            NewCycle {
                name: name(&format!("{}", today.year()))?,
                start_date: year_start,
                end_date: year_end,
                parent_id: None,
                state: CycleState::Active,
            },
        )
        .await
        .map_err(rejected)?;
    let quarter_cycle = store
        .create_cycle(
            actor,
            NewCycle {
                name: name(&format!("Q{} {}", today.month0() / 3 + 1, today.year()))?,
                start_date: quarter_start,
                end_date: quarter_end,
                parent_id: Some(year.id),
                state: CycleState::Active,
            },
        )
        .await
        .map_err(rejected)?;

    let kpis = seed_kpis(store, actor, now, sales, engineering).await?;

    let company_objective = store
        .create_objective(
            actor,
            NewObjective {
                cycle_id: year.id,
                team_id: Some(company),
                owner_id: Some(owner.id),
                parent_id: None,
                title: title("Become the OKR platform mid-size companies love")?,
                description: Description::parse_optional(
                    "Our one company goal for the year. Every department's quarterly objectives roll up into it.",
                )
                .map_err(|error| anyhow!(error.message))?,
                kind: ObjectiveKind::Aspirational,
                state: ObjectiveState::Active,
                progress_source: ProgressSource::ChildObjectives,
                weight: Weight::one(),
            },
        )
        .await
        .map_err(rejected)?
        .objective;

    let quarter_window = (
        headway_domain::progress::CycleWindow::new(quarter_start, quarter_end, time_zone).start,
        now,
    );
    let departments = [
        (
            sales,
            people[1],
            "Grow revenue from new customers",
            vec![
                DemoKeyResult {
                    title: "Increase monthly recurring revenue to €250,000",
                    kind: KeyResultType::IncreaseTo,
                    start: Some("180000"),
                    target: Some("250000"),
                    unit: UnitKind::Currency,
                    reached: 0.0,
                },
                DemoKeyResult {
                    title: "Close 40 new enterprise deals",
                    kind: KeyResultType::IncreaseTo,
                    start: Some("0"),
                    target: Some("40"),
                    unit: UnitKind::Number,
                    reached: 0.55,
                },
                DemoKeyResult {
                    title: "Keep monthly churn at or below 2 %",
                    kind: KeyResultType::StayAtOrBelow,
                    start: Some("2.4"),
                    target: Some("2"),
                    unit: UnitKind::Percent,
                    reached: 1.0,
                },
                DemoKeyResult {
                    title: "Launch the partner program",
                    kind: KeyResultType::Boolean,
                    start: None,
                    target: None,
                    unit: UnitKind::Number,
                    reached: 0.0,
                },
            ],
        ),
        (
            product,
            people[2],
            "Make check-ins effortless",
            vec![
                DemoKeyResult {
                    title: "Raise weekly check-in rate to 70 %",
                    kind: KeyResultType::IncreaseTo,
                    start: Some("45"),
                    target: Some("70"),
                    unit: UnitKind::Percent,
                    reached: 0.6,
                },
                DemoKeyResult {
                    title: "Cut median time to first check-in to 2 minutes",
                    kind: KeyResultType::DecreaseTo,
                    start: Some("9"),
                    target: Some("2"),
                    unit: UnitKind::Number,
                    reached: 0.35,
                },
                DemoKeyResult {
                    title: "Ship check-ins in the mobile app",
                    kind: KeyResultType::Boolean,
                    start: None,
                    target: None,
                    unit: UnitKind::Number,
                    reached: 1.0,
                },
                DemoKeyResult {
                    title: "Keep NPS at or above 45",
                    kind: KeyResultType::StayAtOrAbove,
                    start: Some("41"),
                    target: Some("45"),
                    unit: UnitKind::Number,
                    reached: 1.0,
                },
            ],
        ),
        (
            engineering,
            people[0],
            "Run a fast and reliable service",
            vec![
                DemoKeyResult {
                    title: "Reduce p99 API latency to 80 ms",
                    kind: KeyResultType::DecreaseTo,
                    start: Some("240"),
                    target: Some("80"),
                    unit: UnitKind::Number,
                    reached: 0.7,
                },
                DemoKeyResult {
                    title: "Keep availability at or above 99.95 %",
                    kind: KeyResultType::StayAtOrAbove,
                    start: Some("99.9"),
                    target: Some("99.95"),
                    unit: UnitKind::Percent,
                    reached: 0.0,
                },
                DemoKeyResult {
                    title: "Increase automated test coverage to 85 %",
                    kind: KeyResultType::IncreaseTo,
                    start: Some("62"),
                    target: Some("85"),
                    unit: UnitKind::Percent,
                    reached: 0.4,
                },
                DemoKeyResult {
                    title: "Move every tenant to PostgreSQL 16",
                    kind: KeyResultType::Boolean,
                    start: None,
                    target: None,
                    unit: UnitKind::Number,
                    reached: 0.0,
                },
            ],
        ),
    ];

    for (team, owner_id, objective_title, key_results) in departments {
        let objective = store
            .create_objective(
                actor,
                NewObjective {
                    cycle_id: quarter_cycle.id,
                    team_id: Some(team),
                    owner_id: Some(owner_id),
                    parent_id: Some(company_objective.id),
                    title: title(objective_title)?,
                    description: None,
                    kind: ObjectiveKind::Committed,
                    state: ObjectiveState::Active,
                    progress_source: ProgressSource::KeyResults,
                    weight: Weight::one(),
                },
            )
            .await
            .map_err(rejected)?
            .objective;
        for key_result in key_results {
            seed_key_result(
                store,
                actor,
                objective.id,
                owner_id,
                &key_result,
                &kpis,
                quarter_window,
            )
            .await?;
        }
    }

    Ok(Demo {
        organization_id: organization.id,
        owner_id: owner.id,
        created: true,
    })
}

async fn create_team(
    store: &Store,
    actor: Actor,
    team: &str,
    parent_id: Option<TeamId>,
) -> anyhow::Result<TeamId> {
    let team = store
        .create_team(
            actor,
            NewTeam {
                name: name(team)?,
                description: None,
                parent_id,
                external_key: Some(
                    headway_domain::values::ExternalKey::parse(&team.to_lowercase())
                        .map_err(|error| anyhow!(error.message))?,
                ),
            },
        )
        .await
        .map_err(rejected)?;
    Ok(team.id)
}

/// The demo KPIs: revenue, churn and engineering utilization, with a daily value for the
/// past year.
struct DemoKpis {
    revenue: KpiId,
}

async fn seed_kpis(
    store: &Store,
    actor: Actor,
    now: DateTime<Utc>,
    sales: TeamId,
    engineering: TeamId,
) -> anyhow::Result<DemoKpis> {
    let eur = CurrencyCode::parse("EUR").map_err(|error| anyhow!(error.message))?;
    let definitions = [
        (
            "Monthly recurring revenue",
            Unit::Currency(eur),
            KpiDirection::HigherIsBetter,
            ThresholdFields {
                target: Some(value("250000")?),
                warning: Some(value("200000")?),
                ..ThresholdFields::default()
            },
            Some(sales),
            "finance:mrr",
        ),
        (
            "Monthly churn",
            Unit::Percent,
            KpiDirection::LowerIsBetter,
            ThresholdFields {
                target: Some(value("2")?),
                warning: Some(value("3")?),
                ..ThresholdFields::default()
            },
            Some(sales),
            "finance:churn",
        ),
        (
            "Engineering utilization",
            Unit::Percent,
            KpiDirection::WithinRange,
            ThresholdFields {
                range_low: Some(value("70")?),
                range_high: Some(value("85")?),
                warning_margin: Some(value("5")?),
                ..ThresholdFields::default()
            },
            Some(engineering),
            "engineering:utilization",
        ),
    ];
    let mut ids = Vec::new();
    for (kpi_name, unit, direction, fields, team_id, key) in definitions {
        let kpi = store
            .create_kpi(
                actor,
                NewKpi {
                    name: name(kpi_name)?,
                    description: None,
                    unit,
                    thresholds: KpiThresholds::new(direction, fields)
                        .map_err(|error| anyhow!(error.message))?,
                    frequency: KpiFrequency::Daily,
                    owner_id: None,
                    team_id,
                    external_key: Some(
                        headway_domain::values::ExternalKey::parse(key)
                            .map_err(|error| anyhow!(error.message))?,
                    ),
                },
            )
            .await
            .map_err(rejected)?;
        ids.push(kpi.id);
    }

    // A year of daily values that follow a trend with a weekly wobble.
    let today = now
        .date_naive()
        .and_hms_opt(6, 0, 0)
        .context("06:00")?
        .and_utc();
    for (index, kpi_id) in ids.iter().enumerate() {
        let mut measurements = Vec::with_capacity(365);
        for day in (0..365_i64).rev() {
            let observed_at = today - Duration::days(day);
            let elapsed = (365 - day) as f64;
            let wobble = (elapsed * std::f64::consts::TAU / 7.0).sin();
            let figure = match index {
                0 => 150_000.0 + elapsed * 220.0 + wobble * 1_500.0,
                1 => 3.4 - elapsed * 0.004 + wobble * 0.15,
                _ => 78.0 + (elapsed / 30.0).sin() * 9.0 + wobble,
            };
            let figure = Decimal::from_f64_retain(figure)
                .unwrap_or_default()
                .round_dp(2);
            measurements.push(NewMeasurement {
                kpi: RecordRef::Id(*kpi_id),
                value: MetricValue::new(figure).map_err(|error| anyhow!(error.message))?,
                observed_at,
                idempotency_key: None,
            });
        }
        store
            .record_measurements(actor, measurements, None)
            .await
            .map_err(rejected)?;
    }
    Ok(DemoKpis { revenue: ids[0] })
}

async fn seed_key_result(
    store: &Store,
    actor: Actor,
    objective_id: ObjectiveId,
    owner_id: UserId,
    key_result: &DemoKeyResult,
    kpis: &DemoKpis,
    (cycle_start, now): (DateTime<Utc>, DateTime<Utc>),
) -> anyhow::Result<()> {
    let start = key_result.start.map(value).transpose()?;
    let target = key_result.target.map(value).transpose()?;
    let measure =
        Measure::new(key_result.kind, start, target).map_err(|error| anyhow!(error.message))?;
    let unit = match key_result.unit {
        UnitKind::Currency => {
            Unit::Currency(CurrencyCode::parse("EUR").map_err(|error| anyhow!(error.message))?)
        }
        UnitKind::Percent => Unit::Percent,
        UnitKind::Number => Unit::Number,
    };
    let follows_revenue = key_result.unit == UnitKind::Currency;
    let created = store
        .create_key_result(
            actor,
            NewKeyResult {
                objective_id,
                owner_id: Some(owner_id),
                title: title(key_result.title)?,
                description: None,
                measure,
                unit,
                weight: Weight::one(),
                kpi_id: follows_revenue.then_some(kpis.revenue),
                external_key: None,
            },
        )
        .await
        .map_err(rejected)?
        .key_result;
    if follows_revenue {
        return Ok(());
    }

    // Weekly check-ins from the cycle's start up to a few days ago.
    let weeks = ((now - cycle_start).num_days() / 7).clamp(1, 12);
    for week in 1..=weeks {
        let share = key_result.reached * week as f64 / weeks as f64;
        let observed_at = cycle_start + Duration::days(week * 7 - 4);
        if observed_at > now {
            break;
        }
        let (value, done) = match key_result.kind {
            KeyResultType::Boolean => (None, Some(week == weeks && key_result.reached >= 1.0)),
            KeyResultType::StayAtOrAbove | KeyResultType::StayAtOrBelow => {
                let start = measure.start().get();
                let target = measure.target().get();
                let step = if week == weeks && key_result.reached >= 1.0 {
                    target
                } else {
                    start
                };
                (
                    Some(MetricValue::new(step).map_err(|error| anyhow!(error.message))?),
                    None,
                )
            }
            KeyResultType::IncreaseTo | KeyResultType::DecreaseTo => {
                let start = measure.start().get();
                let target = measure.target().get();
                let share = Decimal::from_f64_retain(share)
                    .unwrap_or_default()
                    .round_dp(4);
                let figure = (start + (target - start) * share).round_dp(2);
                (
                    Some(MetricValue::new(figure).map_err(|error| anyhow!(error.message))?),
                    None,
                )
            }
        };
        let confidence = Confidence::new(5 + (week % 4)).map_err(|error| anyhow!(error.message))?;
        store
            .create_check_in(
                Actor::user(actor.organization_id, owner_id),
                NewCheckIn {
                    key_result: RecordRef::Id(created.id),
                    value,
                    done,
                    confidence: Some(confidence),
                    comment: None,
                    observed_at: Some(observed_at),
                    idempotency_key: None,
                },
            )
            .await
            .map_err(rejected)?;
    }
    Ok(())
}
