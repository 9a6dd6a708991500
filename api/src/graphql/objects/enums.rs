//! GraphQL enums that mirror the domain's.

use headway_domain::{kpi, model, progress, series};

macro_rules! mirror_enum {
    ($(#[$meta:meta])* $name:ident => $domain:path { $($(#[$variant_meta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, async_graphql::Enum)]
        pub enum $name {
            $($(#[$variant_meta])* $variant),+
        }

        impl From<$domain> for $name {
            fn from(value: $domain) -> Self {
                match value {
                    $(<$domain>::$variant => Self::$variant),+
                }
            }
        }

        impl From<$name> for $domain {
            fn from(value: $name) -> Self {
                match value {
                    $($name::$variant => Self::$variant),+
                }
            }
        }
    };
}

mirror_enum!(
    /// A member's role. Each role may do everything the roles below it may.
    Role => model::Role {
        /// Manages admins, and everything an admin manages.
        Owner,
        /// Manages teams, cycles, KPIs, settings and members.
        Admin,
        /// Writes objectives, key results, check-ins and comments.
        Member,
        /// Reads.
        Viewer,
    }
);

mirror_enum!(
    /// The life cycle of a cycle.
    CycleState => model::CycleState {
        /// Not started; plans are being made.
        Planned,
        /// Running: check-ins are expected.
        Active,
        /// Over: scores are frozen and check-ins rejected until an admin reopens it.
        Closed,
    }
);

mirror_enum!(
    /// How an objective's success is judged at close.
    ObjectiveKind => model::ObjectiveKind {
        /// Must be reached in full: success needs a score of 1.0.
        Committed,
        /// A stretch goal: success needs a score of 0.7.
        Aspirational,
    }
);

mirror_enum!(
    /// The state of an objective.
    ObjectiveState => model::ObjectiveState {
        /// Being written; it does not count in its parent's progress.
        Draft,
        /// Committed to and tracked.
        Active,
        /// Finished.
        Closed,
        /// Hidden from lists and rollups; archiving is final.
        Archived,
    }
);

mirror_enum!(
    /// Which inputs an objective's progress is computed from.
    ProgressSource => model::ProgressSource {
        /// Its key results.
        KeyResults,
        /// Its aligned child objectives.
        ChildObjectives,
        /// Its key results and its child objectives together.
        Both,
    }
);

mirror_enum!(
    /// How a key result's progress follows its current value.
    KeyResultType => model::KeyResultType {
        /// From a start value up to a higher target: (current - start) / (target - start).
        IncreaseTo,
        /// From a start value down to a lower target: (start - current) / (start - target).
        DecreaseTo,
        /// Done (1) while the value is at or above the target, else 0.
        StayAtOrAbove,
        /// Done (1) while the value is at or below the target, else 0.
        StayAtOrBelow,
        /// Done or not done.
        Boolean,
    }
);

mirror_enum!(
    /// The unit of a key result or KPI.
    Unit => model::UnitKind {
        /// A plain number.
        Number,
        /// A percentage, written as 0 to 100.
        Percent,
        /// An amount of money in `currencyCode`.
        Currency,
    }
);

mirror_enum!(
    /// Where a check-in or measurement came from.
    Source => model::Source {
        /// A person.
        User,
        /// An integration with an API token.
        ApiToken,
        /// A KPI measurement that drives a linked key result.
        Kpi,
    }
);

mirror_enum!(
    /// Which values of a KPI are good.
    KpiDirection => kpi::KpiDirection {
        /// HEALTHY at or above the target, WARNING at or above the warning value.
        HigherIsBetter,
        /// HEALTHY at or below the target, WARNING at or below the warning value.
        LowerIsBetter,
        /// HEALTHY inside [rangeLow, rangeHigh], WARNING within warningMargin outside it.
        WithinRange,
    }
);

mirror_enum!(
    /// How often a KPI is expected to be measured.
    KpiFrequency => model::KpiFrequency {
        Daily,
        Weekly,
        Monthly,
        Quarterly,
    }
);

mirror_enum!(
    /// The health of a KPI value against its thresholds.
    KpiHealth => kpi::KpiHealth {
        /// On the good side of the target.
        Healthy,
        /// Past the target but within the warning threshold.
        Warning,
        /// Past the warning threshold.
        Critical,
        /// No target is set.
        NoTarget,
        /// A target is set but nothing was measured yet.
        NoData,
    }
);

mirror_enum!(
    /// Progress against the pace that the cycle's elapsed time asks for.
    PaceStatus => progress::PaceStatus {
        /// Progress is at least 0.7 times the expected progress, or the cycle is less than 5 % through.
        OnTrack,
        /// Progress is at least 0.4 times the expected progress.
        AtRisk,
        /// Progress is below 0.4 times the expected progress.
        OffTrack,
    }
);

mirror_enum!(
    /// The color band of a score.
    ScoreBand => progress::ScoreBand {
        /// 0.7 or more.
        Green,
        /// From 0.4 to below 0.7.
        Yellow,
        /// Below 0.4.
        Red,
    }
);

mirror_enum!(
    /// The calendar unit of one point of a KPI series, in the organization's time zone.
    SeriesInterval => series::Interval {
        Day,
        /// ISO weeks, Monday to Sunday.
        Week,
        Month,
        /// Calendar quarters, beginning in January, April, July and October.
        Quarter,
    }
);

mirror_enum!(
    /// How the measurements of one point combine into its value.
    SeriesAggregation => series::Aggregation {
        /// The value with the latest observed-at time.
        Last,
        /// The arithmetic mean, to 10 decimal places.
        Average,
        Min,
        Max,
        Sum,
    }
);
