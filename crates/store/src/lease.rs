//! A lease kept in the store itself, so that one of several processes sharing a store does a
//! periodic job (garbage collection) and another takes over when the holder stops renewing.
//! It is taken with the store's conditional write: of two processes that find it free or
//! expired, exactly one write wins.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::{Error, Expect, Result, Store};

/// The object holding the GC lease.
pub const GC_LEASE: &str = "leases/gc";

/// The lease object's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Who holds it (host name and process id, or what the caller chose).
    pub holder: String,
    /// When it ends unless renewed, in Unix milliseconds.
    pub expires_ms: u64,
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Store {
    /// Takes lease `key` for `holder` until `now + ttl`, or renews it if `holder` has it:
    /// whether `holder` holds it now. A lease held by another and not expired is left alone; an
    /// unreadable lease object counts as expired.
    pub async fn try_lease(
        &self,
        key: &str,
        holder: &str,
        ttl: Duration,
        now: SystemTime,
    ) -> Result<bool> {
        let expect = match self.get(key).await? {
            None => Expect::Absent,
            Some(object) => {
                let current: Option<Lease> = serde_json::from_slice(&object.bytes).ok();
                let free = current
                    .as_ref()
                    .is_none_or(|l| l.holder == holder || l.expires_ms <= unix_ms(now));
                if !free {
                    return Ok(false);
                }
                Expect::Version(object.etag)
            }
        };
        let lease = Lease {
            holder: holder.to_owned(),
            expires_ms: unix_ms(now + ttl),
        };
        let bytes = serde_json::to_vec(&lease).expect("a lease always serializes");
        match self.put(key, bytes, expect).await {
            Ok(_) => Ok(true),
            Err(Error::Conflict { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
