//! Per-principal rate limits: a token bucket per user, API token or anonymous address.
//!
//! With Redis configured the buckets live there, so that a limit holds across replicas; a
//! Lua script refills and takes tokens atomically by Redis's clock. Without Redis, or while
//! Redis is unreachable, each replica keeps its own buckets in memory.

use crate::live::redis_bus::RedisBus;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The settings of the buckets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateSettings {
    /// Requests per second that a principal may sustain; 0 turns limiting off.
    pub per_second: f64,
    /// Requests a principal may send at once after a quiet period.
    pub burst: f64,
}

/// A request over its principal's limit, and how long until one more is allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: Duration,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of one replica, and Redis when configured.
pub struct RateLimiter {
    settings: RateSettings,
    local: Mutex<HashMap<String, Bucket>>,
    redis: Option<Arc<RedisBus>>,
}

/// How many local buckets are kept before full ones are forgotten.
const MAX_LOCAL_BUCKETS: usize = 100_000;

/// Refills a bucket by Redis's clock and takes `cost` tokens when it holds enough. Returns
/// `{allowed, milliseconds to wait}`.
const REDIS_SCRIPT: &str = r"
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) / 1000 * rate)
local allowed = 0
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  wait = math.ceil((cost - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, wait}
";

impl RateLimiter {
    pub fn new(settings: RateSettings, redis: Option<Arc<RedisBus>>) -> Self {
        Self {
            settings,
            local: Mutex::new(HashMap::new()),
            redis,
        }
    }

    pub fn settings(&self) -> RateSettings {
        self.settings
    }

    /// Takes `cost` requests from the bucket of `key`.
    pub async fn check(&self, key: &str, cost: u32) -> Result<(), Limited> {
        if self.settings.per_second <= 0.0 {
            return Ok(());
        }
        let cost = f64::from(cost.max(1)).min(self.settings.burst.max(1.0));
        if let Some(redis) = &self.redis
            && let Some(outcome) = redis
                .rate_limit(
                    REDIS_SCRIPT,
                    key,
                    self.settings.per_second,
                    self.settings.burst,
                    cost,
                )
                .await
        {
            return match outcome {
                (true, _) => Ok(()),
                (false, wait_ms) => Err(Limited {
                    retry_after: Duration::from_millis(wait_ms.max(1)),
                }),
            };
        }
        self.check_locally(key, cost)
    }

    fn check_locally(&self, key: &str, cost: f64) -> Result<(), Limited> {
        let RateSettings { per_second, burst } = self.settings;
        let now = Instant::now();
        let mut buckets = self.local.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= MAX_LOCAL_BUCKETS {
            // Full buckets hold no information, so they are the ones to forget.
            buckets.retain(|_, bucket| {
                bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * per_second < burst
            });
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        bucket.tokens =
            (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * per_second).min(burst);
        bucket.at = now;
        if bucket.tokens >= cost {
            bucket.tokens -= cost;
            Ok(())
        } else {
            let wait = (cost - bucket.tokens) / per_second;
            Err(Limited {
                retry_after: Duration::from_secs_f64(wait),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn burst_then_limited() {
        let limiter = RateLimiter::new(
            RateSettings {
                per_second: 1.0,
                burst: 3.0,
            },
            None,
        );
        for _ in 0..3 {
            assert!(limiter.check("user:a", 1).await.is_ok());
        }
        let limited = limiter.check("user:a", 1).await.unwrap_err();
        assert!(limited.retry_after > Duration::from_millis(900));
        assert!(
            limiter.check("user:b", 1).await.is_ok(),
            "buckets are per principal"
        );
    }

    #[tokio::test]
    async fn zero_rate_turns_limiting_off() {
        let limiter = RateLimiter::new(
            RateSettings {
                per_second: 0.0,
                burst: 0.0,
            },
            None,
        );
        for _ in 0..1_000 {
            assert!(limiter.check("user:a", 1).await.is_ok());
        }
    }
}
