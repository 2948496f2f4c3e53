//! Registry timestamps that become an entry's `create_time` (MCP `Metadata.create_time`, a
//! protobuf `Timestamp`). A time a `Timestamp` cannot hold makes a conforming client (istiod's
//! Go protobuf) refuse the whole response, so such a time is never used (issue 22).
//!
//! Rules: a registry time is milliseconds since the epoch. 0 means absent. A time after
//! 9999-12-31T23:59:59.999Z ([`MAX_CREATE_TIME_MS`]; `3e14` ms is the year 11476, microseconds
//! or nanoseconds sent as milliseconds land there too) is ignored for `create_time` and reported
//! in the snapshot's `rejected` list, naming the registry, the service and the instance; the
//! instance itself is still served. Negative Eureka times and Dubbo `registrationTimeUTC` never
//! get here: the parsers refuse them, naming the field (a provider `timestamp` that is not a
//! number is ignored). A time in the future that a `Timestamp` can hold is kept: the
//! conversion has no clock, and istiod accepts it.

pub use regsync_model::entry::MAX_CREATE_TIME_MS;

/// `ms` when it can be a creation time: present (not 0) and at most [`MAX_CREATE_TIME_MS`].
pub fn creation_time(ms: u64) -> Option<u64> {
    (ms > 0 && ms <= MAX_CREATE_TIME_MS).then_some(ms)
}

/// Why `ms`, read from registry field `field`, is not used as a creation time, if it is present
/// and cannot be one.
pub fn unusable_time(field: &str, ms: u64) -> Option<String> {
    (ms > MAX_CREATE_TIME_MS).then(|| {
        format!(
            "field {field}: {ms} ms is after 9999-12-31T23:59:59.999Z, the last instant a \
             protobuf Timestamp holds; not used as create_time"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_times_a_protobuf_timestamp_holds_are_creation_times() {
        assert_eq!(creation_time(0), None);
        assert_eq!(creation_time(1_606_976_861_357), Some(1_606_976_861_357));
        assert_eq!(creation_time(MAX_CREATE_TIME_MS), Some(MAX_CREATE_TIME_MS));
        assert_eq!(creation_time(MAX_CREATE_TIME_MS + 1), None);
        assert_eq!(creation_time(300_000_000_000_000), None);
        assert_eq!(unusable_time("x", 0), None);
        assert_eq!(unusable_time("x", MAX_CREATE_TIME_MS), None);
        let why = unusable_time("leaseInfo.registrationTimestamp", 300_000_000_000_000).unwrap();
        assert!(
            why.contains("leaseInfo.registrationTimestamp: 300000000000000 ms"),
            "{why}"
        );
    }
}
