//! The time claims: `exp` (required), `nbf` and `iat`, read from a verified payload and checked
//! against the clock with the policy's leeway.

use serde_json::{Map, Value};

use super::Times;
use crate::reason::{Detail, Reason, Rejection};

fn numeric_date(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, Rejection> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) => Ok(Some(v)),
            None if n.is_u64() => Err(malformed_claim(name, "is out of range")),
            None => Err(malformed_claim(name, "is not an integer")),
        },
        Some(_) => Err(malformed_claim(name, "is not a number")),
    }
}

fn malformed_claim(claim: &'static str, what: &'static str) -> Rejection {
    Rejection {
        reason: Reason::Malformed,
        detail: Detail::ClaimType { claim, what },
    }
}

/// Reads `exp` (required), `nbf` and `iat`.
pub fn parse_times(claims: &Map<String, Value>) -> Result<Times, Rejection> {
    let exp =
        numeric_date(claims, "exp")?.ok_or_else(|| Rejection::new(Reason::Claim, "no \"exp\" claim"))?;
    Ok(Times {
        exp,
        nbf: numeric_date(claims, "nbf")?,
        iat: numeric_date(claims, "iat")?,
    })
}

/// Checks `exp` and `nbf` against `now` with `leeway` seconds of clock skew. Runs on every
/// request, also for tokens served from a cache.
pub fn check_times(t: &Times, leeway: u64, now: i64) -> Result<(), Rejection> {
    let skew = i64::try_from(leeway).unwrap_or(i64::MAX);
    if now.saturating_sub(skew) >= t.exp {
        return Err(Rejection {
            reason: Reason::Expired,
            detail: Detail::Expired {
                exp: t.exp,
                now,
                leeway,
            },
        });
    }
    if let Some(nbf) = t.nbf {
        if now.saturating_add(skew) < nbf {
            return Err(Rejection {
                reason: Reason::NotYetValid,
                detail: Detail::NotYetValid {
                    claim: "nbf",
                    at: nbf,
                    now,
                    leeway,
                },
            });
        }
    }
    Ok(())
}
