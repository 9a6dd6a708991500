//! KPI thresholds and health.

use crate::error::{ErrorCode, ValidationError};
use crate::values::MetricValue;
use serde::{Deserialize, Serialize};

/// Which values of a KPI are good.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KpiDirection {
    HigherIsBetter,
    LowerIsBetter,
    WithinRange,
}

impl KpiDirection {
    pub const ALL: &'static [Self] =
        &[Self::HigherIsBetter, Self::LowerIsBetter, Self::WithinRange];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::HigherIsBetter => "HIGHER_IS_BETTER",
            Self::LowerIsBetter => "LOWER_IS_BETTER",
            Self::WithinRange => "WITHIN_RANGE",
        }
    }

    pub fn from_name(text: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|direction| direction.as_str() == text)
    }
}

/// The health of a KPI's latest value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum KpiHealth {
    Healthy,
    Warning,
    Critical,
    /// No target is set, so no value can be judged.
    NoTarget,
    /// A target is set but nothing was measured yet.
    NoData,
}

impl KpiHealth {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "HEALTHY",
            Self::Warning => "WARNING",
            Self::Critical => "CRITICAL",
            Self::NoTarget => "NO_TARGET",
            Self::NoData => "NO_DATA",
        }
    }
}

/// Raw threshold fields as a client sends them, before validation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThresholdFields {
    pub target: Option<MetricValue>,
    pub warning: Option<MetricValue>,
    pub range_low: Option<MetricValue>,
    pub range_high: Option<MetricValue>,
    pub warning_margin: Option<MetricValue>,
}

/// A KPI's direction with the thresholds that judge its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KpiThresholds {
    /// HEALTHY at or above `target`, WARNING at or above `warning`, else CRITICAL.
    HigherIsBetter {
        target: Option<MetricValue>,
        warning: Option<MetricValue>,
    },
    /// HEALTHY at or below `target`, WARNING at or below `warning`, else CRITICAL.
    LowerIsBetter {
        target: Option<MetricValue>,
        warning: Option<MetricValue>,
    },
    /// HEALTHY inside [low, high], WARNING within `margin` outside it, else CRITICAL.
    WithinRange {
        range: Option<(MetricValue, MetricValue)>,
        margin: Option<MetricValue>,
    },
}

fn not_allowed(field: &str, direction: KpiDirection) -> ValidationError {
    ValidationError::new(
        field,
        ErrorCode::Invalid,
        format!("does not apply to {} KPIs", direction.as_str()),
    )
}

impl KpiThresholds {
    /// Validates the thresholds for `direction`. Errors name the input field at fault.
    pub fn new(direction: KpiDirection, fields: ThresholdFields) -> Result<Self, ValidationError> {
        match direction {
            KpiDirection::HigherIsBetter | KpiDirection::LowerIsBetter => {
                for (value, field) in [
                    (fields.range_low, "rangeLow"),
                    (fields.range_high, "rangeHigh"),
                    (fields.warning_margin, "warningMargin"),
                ] {
                    if value.is_some() {
                        return Err(not_allowed(field, direction));
                    }
                }
                let (target, warning) = (fields.target, fields.warning);
                match (target, warning) {
                    (None, Some(_)) => {
                        return Err(ValidationError::new(
                            "warningValue",
                            ErrorCode::Invalid,
                            "needs a targetValue to warn before",
                        ));
                    }
                    (Some(target), Some(warning))
                        if direction == KpiDirection::HigherIsBetter && warning > target =>
                    {
                        return Err(ValidationError::new(
                            "warningValue",
                            ErrorCode::Invalid,
                            format!(
                                "{warning} is above the target {target}; for HIGHER_IS_BETTER the warning threshold must be at or below the target"
                            ),
                        ));
                    }
                    (Some(target), Some(warning))
                        if direction == KpiDirection::LowerIsBetter && warning < target =>
                    {
                        return Err(ValidationError::new(
                            "warningValue",
                            ErrorCode::Invalid,
                            format!(
                                "{warning} is below the target {target}; for LOWER_IS_BETTER the warning threshold must be at or above the target"
                            ),
                        ));
                    }
                    _ => {}
                }
                Ok(if direction == KpiDirection::HigherIsBetter {
                    Self::HigherIsBetter { target, warning }
                } else {
                    Self::LowerIsBetter { target, warning }
                })
            }
            KpiDirection::WithinRange => {
                for (value, field) in [
                    (fields.target, "targetValue"),
                    (fields.warning, "warningValue"),
                ] {
                    if value.is_some() {
                        return Err(not_allowed(field, direction));
                    }
                }
                let range = match (fields.range_low, fields.range_high) {
                    (None, None) => None,
                    (Some(low), Some(high)) if low <= high => Some((low, high)),
                    (Some(low), Some(high)) => {
                        return Err(ValidationError::new(
                            "rangeHigh",
                            ErrorCode::Invalid,
                            format!("{high} is below rangeLow {low}"),
                        ));
                    }
                    (None, Some(_)) => {
                        return Err(ValidationError::new(
                            "rangeLow",
                            ErrorCode::Invalid,
                            "is required when rangeHigh is set",
                        ));
                    }
                    (Some(_), None) => {
                        return Err(ValidationError::new(
                            "rangeHigh",
                            ErrorCode::Invalid,
                            "is required when rangeLow is set",
                        ));
                    }
                };
                if let Some(margin) = fields.warning_margin {
                    if range.is_none() {
                        return Err(ValidationError::new(
                            "warningMargin",
                            ErrorCode::Invalid,
                            "needs rangeLow and rangeHigh",
                        ));
                    }
                    if margin.get().is_sign_negative() && !margin.get().is_zero() {
                        return Err(ValidationError::new(
                            "warningMargin",
                            ErrorCode::OutOfRange,
                            format!("{margin} is negative; the margin must be 0 or more"),
                        ));
                    }
                }
                Ok(Self::WithinRange {
                    range,
                    margin: fields.warning_margin,
                })
            }
        }
    }

    pub const fn direction(&self) -> KpiDirection {
        match self {
            Self::HigherIsBetter { .. } => KpiDirection::HigherIsBetter,
            Self::LowerIsBetter { .. } => KpiDirection::LowerIsBetter,
            Self::WithinRange { .. } => KpiDirection::WithinRange,
        }
    }

    /// The thresholds as their input fields, for storage and output.
    pub fn fields(&self) -> ThresholdFields {
        match *self {
            Self::HigherIsBetter { target, warning } | Self::LowerIsBetter { target, warning } => {
                ThresholdFields {
                    target,
                    warning,
                    ..ThresholdFields::default()
                }
            }
            Self::WithinRange { range, margin } => ThresholdFields {
                range_low: range.map(|(low, _)| low),
                range_high: range.map(|(_, high)| high),
                warning_margin: margin,
                ..ThresholdFields::default()
            },
        }
    }

    /// The health of `value`, the latest measurement if there is one.
    pub fn health(&self, value: Option<MetricValue>) -> KpiHealth {
        let has_target = match self {
            Self::HigherIsBetter { target, .. } | Self::LowerIsBetter { target, .. } => {
                target.is_some()
            }
            Self::WithinRange { range, .. } => range.is_some(),
        };
        if !has_target {
            return KpiHealth::NoTarget;
        }
        let Some(value) = value else {
            return KpiHealth::NoData;
        };
        match *self {
            Self::HigherIsBetter {
                target: Some(target),
                warning,
            } => {
                if value >= target {
                    KpiHealth::Healthy
                } else if warning.is_some_and(|warning| value >= warning) {
                    KpiHealth::Warning
                } else {
                    KpiHealth::Critical
                }
            }
            Self::LowerIsBetter {
                target: Some(target),
                warning,
            } => {
                if value <= target {
                    KpiHealth::Healthy
                } else if warning.is_some_and(|warning| value <= warning) {
                    KpiHealth::Warning
                } else {
                    KpiHealth::Critical
                }
            }
            Self::WithinRange {
                range: Some((low, high)),
                margin,
            } => {
                if low <= value && value <= high {
                    return KpiHealth::Healthy;
                }
                let margin = margin.map_or(rust_decimal::Decimal::ZERO, MetricValue::get);
                let (v, low, high) = (value.get(), low.get(), high.get());
                if low - margin <= v && v <= high + margin {
                    KpiHealth::Warning
                } else {
                    KpiHealth::Critical
                }
            }
            _ => KpiHealth::NoTarget,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> MetricValue {
        MetricValue::parse(text).unwrap()
    }

    fn higher(target: &str, warning: &str) -> KpiThresholds {
        KpiThresholds::new(
            KpiDirection::HigherIsBetter,
            ThresholdFields {
                target: Some(value(target)),
                warning: Some(value(warning)),
                ..ThresholdFields::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn higher_is_better_health() {
        let thresholds = higher("100", "80");
        assert_eq!(thresholds.health(Some(value("120"))), KpiHealth::Healthy);
        assert_eq!(thresholds.health(Some(value("100"))), KpiHealth::Healthy);
        assert_eq!(thresholds.health(Some(value("99.9"))), KpiHealth::Warning);
        assert_eq!(thresholds.health(Some(value("80"))), KpiHealth::Warning);
        assert_eq!(thresholds.health(Some(value("79.9"))), KpiHealth::Critical);
        assert_eq!(thresholds.health(None), KpiHealth::NoData);
    }

    #[test]
    fn higher_is_better_without_warning() {
        let thresholds = KpiThresholds::new(
            KpiDirection::HigherIsBetter,
            ThresholdFields {
                target: Some(value("10")),
                ..ThresholdFields::default()
            },
        )
        .unwrap();
        assert_eq!(thresholds.health(Some(value("9"))), KpiHealth::Critical);
    }

    #[test]
    fn lower_is_better_health() {
        let thresholds = KpiThresholds::new(
            KpiDirection::LowerIsBetter,
            ThresholdFields {
                target: Some(value("2")),
                warning: Some(value("5")),
                ..ThresholdFields::default()
            },
        )
        .unwrap();
        assert_eq!(thresholds.health(Some(value("1"))), KpiHealth::Healthy);
        assert_eq!(thresholds.health(Some(value("2"))), KpiHealth::Healthy);
        assert_eq!(thresholds.health(Some(value("5"))), KpiHealth::Warning);
        assert_eq!(thresholds.health(Some(value("5.01"))), KpiHealth::Critical);
    }

    #[test]
    fn within_range_health() {
        let thresholds = KpiThresholds::new(
            KpiDirection::WithinRange,
            ThresholdFields {
                range_low: Some(value("40")),
                range_high: Some(value("60")),
                warning_margin: Some(value("5")),
                ..ThresholdFields::default()
            },
        )
        .unwrap();
        assert_eq!(thresholds.health(Some(value("40"))), KpiHealth::Healthy);
        assert_eq!(thresholds.health(Some(value("60"))), KpiHealth::Healthy);
        assert_eq!(thresholds.health(Some(value("35"))), KpiHealth::Warning);
        assert_eq!(thresholds.health(Some(value("65"))), KpiHealth::Warning);
        assert_eq!(thresholds.health(Some(value("34.99"))), KpiHealth::Critical);
        assert_eq!(thresholds.health(Some(value("65.01"))), KpiHealth::Critical);
    }

    #[test]
    fn no_target_for_every_direction() {
        for direction in KpiDirection::ALL {
            let thresholds = KpiThresholds::new(*direction, ThresholdFields::default()).unwrap();
            assert_eq!(
                thresholds.health(Some(value("1"))),
                KpiHealth::NoTarget,
                "{direction:?}"
            );
            assert_eq!(
                thresholds.health(None),
                KpiHealth::NoTarget,
                "{direction:?}"
            );
        }
    }

    #[test]
    fn warning_on_wrong_side_of_target() {
        let error = KpiThresholds::new(
            KpiDirection::HigherIsBetter,
            ThresholdFields {
                target: Some(value("10")),
                warning: Some(value("12")),
                ..ThresholdFields::default()
            },
        )
        .unwrap_err();
        assert_eq!(error.field, "warningValue");
        let error = KpiThresholds::new(
            KpiDirection::LowerIsBetter,
            ThresholdFields {
                target: Some(value("10")),
                warning: Some(value("8")),
                ..ThresholdFields::default()
            },
        )
        .unwrap_err();
        assert_eq!(error.field, "warningValue");
    }

    #[test]
    fn range_fields_rules() {
        let error = KpiThresholds::new(
            KpiDirection::WithinRange,
            ThresholdFields {
                range_low: Some(value("10")),
                range_high: Some(value("5")),
                ..ThresholdFields::default()
            },
        )
        .unwrap_err();
        assert_eq!(error.field, "rangeHigh");
        let error = KpiThresholds::new(
            KpiDirection::WithinRange,
            ThresholdFields {
                target: Some(value("1")),
                ..ThresholdFields::default()
            },
        )
        .unwrap_err();
        assert_eq!(error.field, "targetValue");
        let error = KpiThresholds::new(
            KpiDirection::HigherIsBetter,
            ThresholdFields {
                range_low: Some(value("1")),
                ..ThresholdFields::default()
            },
        )
        .unwrap_err();
        assert_eq!(error.field, "rangeLow");
    }
}
