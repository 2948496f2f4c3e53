//! The typed fast path for Eureka JSON: `{"applications":{..}}`, `{"application":{..}}` and
//! `{"instance":{..}}` read straight from the bytes into the model, without a `Value` tree.
//!
//! It follows the rules of the slow path in `json.rs` exactly, and whenever it is not sure it
//! gives up (`None`) and leaves the document to the slow path, which then either accepts it or
//! refuses it with a precise error. So the fast path must never accept a document the slow path
//! refuses, and must give the same document whenever both accept; its errors carry no
//! information. Concretely:
//!
//! - Every value, including the ones nobody reads, goes through the same serde_json parsing the
//!   slow path's `Value` does ([`Skip`] is `deserialize_any`, not `IgnoredAny`: serde_json's
//!   `IgnoredAny` neither validates UTF-8, surrogates and number ranges nor counts nesting
//!   depth, so it would accept documents the slow path refuses).
//! - A key repeated in one object keeps its last value, as in a `Value`: every field is
//!   overwritten, never merged. An earlier, invalid value makes us give up early; that is
//!   allowed (the slow path ignores it, and accepts or refuses the document by itself).
//! - Keys serde_json reserves for its own tokens (`$serde_json::private::..`), which a `Value`
//!   may read specially, make us give up.
//! - A bare InstanceInfo (no wrapping key) is left to the slow path.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use regsync_model::eureka::{
    ActionType, EurekaApplication, EurekaDocument, EurekaInstance, InstanceStatus,
};
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::merge;

/// The fast path over bytes (without a byte order mark); `None` means "ask the slow path".
///
/// Bytes that are not UTF-8 throughout are refused by the slow path (outside strings they are
/// a syntax error, inside strings invalid), so they are checked once, up front, which is much
/// cheaper than serde_json checking every string on its own.
pub(crate) fn from_slice(bytes: &[u8]) -> Option<EurekaDocument> {
    from_str(std::str::from_utf8(bytes).ok()?)
}

/// [`from_slice`] over text.
pub(crate) fn from_str(text: &str) -> Option<EurekaDocument> {
    let mut de = serde_json::Deserializer::from_str(text);
    let root = Root::deserialize(&mut de).ok()?;
    de.end().ok()?;
    root.finish()
}

/// Keys a `Value` may read as serde_json's own tokens (`arbitrary_precision`, `raw_value`).
const SERDE_JSON_PRIVATE: &str = "$serde_json::private::";

/// The error that sends a document to the slow path.
fn bail<E: de::Error>() -> E {
    E::custom("left to the slow path")
}

fn check_key<E: de::Error>(key: &str) -> Result<(), E> {
    if key.starts_with(SERDE_JSON_PRIVATE) {
        Err(bail())
    } else {
        Ok(())
    }
}

/// Object keys a struct knows, read without allocating; any other key is `Other`.
macro_rules! keys {
    ($name:ident { $($variant:ident = $key:literal),* $(,)? }) => {
        #[derive(Clone, Copy)]
        enum $name {
            $($variant,)*
            Other,
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct KeyVisitor;
                impl Visitor<'_> for KeyVisitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("an object key")
                    }
                    fn visit_str<E: de::Error>(self, s: &str) -> Result<$name, E> {
                        Ok(match s {
                            $($key => $name::$variant,)*
                            _ => {
                                check_key(s)?;
                                $name::Other
                            }
                        })
                    }
                }
                d.deserialize_identifier(KeyVisitor)
            }
        }
    };
}

keys!(RootKey {
    Applications = "applications",
    Application = "application",
    Instance = "instance",
});

keys!(AppsKey {
    VersionsDelta = "versions__delta",
    AppsHashcode = "apps__hashcode",
    Application = "application",
});

keys!(AppKey {
    Name = "name",
    Instance = "instance",
});

keys!(InstKey {
    App = "app",
    InstanceId = "instanceId",
    HostName = "hostName",
    IpAddr = "ipAddr",
    Status = "status",
    OverriddenStatus = "overriddenStatus",
    LegacyOverriddenStatus = "overriddenstatus",
    Port = "port",
    SecurePort = "securePort",
    Metadata = "metadata",
    DataCenterInfo = "dataCenterInfo",
    LeaseInfo = "leaseInfo",
    ActionType = "actionType",
    LastUpdatedTimestamp = "lastUpdatedTimestamp",
    LastDirtyTimestamp = "lastDirtyTimestamp",
});

keys!(PortKey {
    Number = "$",
    Enabled = "@enabled",
});

keys!(DcKey {
    Class = "@class",
    Name = "name",
    Metadata = "metadata",
});

keys!(DcMetaKey {
    Zone = "availability-zone",
    InstanceId = "instance-id",
});

keys!(LeaseKey {
    RegistrationTimestamp = "registrationTimestamp",
});

// ---------------------------------------------------------------------------------------------
// Values nobody reads.

/// Any JSON value, validated exactly as a `Value` would be (strings as UTF-8 without lone
/// surrogates, numbers in range, nesting within serde_json's recursion limit) but not kept.
struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SkipVisitor)
    }
}

struct SkipVisitor;

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skip;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Skip, A::Error> {
        drain_seq(seq)?;
        Ok(Skip)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Skip, A::Error> {
        drain_map(map)?;
        Ok(Skip)
    }
}

/// A key of an object nobody reads.
struct SkipKey;

impl<'de> Deserialize<'de> for SkipKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = SkipKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<SkipKey, E> {
                check_key(s)?;
                Ok(SkipKey)
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<Skip>()?.is_some() {}
    Ok(())
}

fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_key::<SkipKey>()?.is_some() {
        map.next_value::<Skip>()?;
    }
    Ok(())
}

/// Implements the visits that end in "not this shape, give up" for the JSON types a field's
/// visitor does not list. Every listed one must also be implemented by hand.
macro_rules! refuse {
    (bool) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Err(bail())
        }
    };
    (i64) => {
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Err(bail())
        }
    };
    (u64) => {
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Err(bail())
        }
    };
    (f64) => {
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Err(bail())
        }
    };
    (seq) => {
        fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err(bail())
        }
    };
    (map) => {
        fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err(bail())
        }
    };
    ($($kind:tt),+) => {
        $(refuse!($kind);)+
    };
}

// ---------------------------------------------------------------------------------------------
// Scalars.

/// `json::timestamp`: a non-negative integer as a number or a numeric string; `None` when null.
struct Timestamp(Option<u64>);

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a timestamp")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Timestamp, E> {
                Ok(Timestamp(None))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Timestamp, E> {
                Ok(Timestamp(Some(n)))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Timestamp, E> {
                u64::try_from(n)
                    .map(|n| Timestamp(Some(n)))
                    .map_err(|_| bail())
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Timestamp, E> {
                s.trim()
                    .parse::<u64>()
                    .map(|n| Timestamp(Some(n)))
                    .map_err(|_| bail())
            }
            refuse!(bool, f64, seq, map);
        }
        d.deserialize_any(V)
    }
}

/// `versions__delta` as `json::integer_i64` reads it; `None` when null.
struct Delta(Option<i64>);

impl<'de> Deserialize<'de> for Delta {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Delta;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Delta, E> {
                Ok(Delta(None))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Delta, E> {
                i64::try_from(n).map(|n| Delta(Some(n))).map_err(|_| bail())
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Delta, E> {
                Ok(Delta(Some(n)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Delta, E> {
                s.trim()
                    .parse::<i64>()
                    .map(|n| Delta(Some(n)))
                    .map_err(|_| bail())
            }
            refuse!(bool, f64, seq, map);
        }
        d.deserialize_any(V)
    }
}

/// `json::parse_status`: a name matched without regard to case; `None` when null.
struct Status(Option<InstanceStatus>);

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Status;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a status")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Status, E> {
                Ok(Status(None))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Status, E> {
                // The exact spelling first, to spare the upper-cased copy.
                InstanceStatus::parse(s)
                    .or_else(|| InstanceStatus::parse(&s.trim().to_ascii_uppercase()))
                    .map(|s| Status(Some(s)))
                    .ok_or_else(bail)
            }
            refuse!(bool, i64, u64, f64, seq, map);
        }
        d.deserialize_any(V)
    }
}

/// The legacy `overriddenstatus`, which the slow path reads only when `overriddenStatus` is
/// absent: `None` when null, `Some(None)` when it is not a status.
struct LegacyStatus(Option<Option<InstanceStatus>>);

impl<'de> Deserialize<'de> for LegacyStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LegacyStatus;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<LegacyStatus, E> {
                Ok(LegacyStatus(None))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<LegacyStatus, E> {
                let status = InstanceStatus::parse(s)
                    .or_else(|| InstanceStatus::parse(&s.trim().to_ascii_uppercase()));
                Ok(LegacyStatus(Some(status)))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<LegacyStatus, E> {
                Ok(LegacyStatus(Some(None)))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<LegacyStatus, E> {
                Ok(LegacyStatus(Some(None)))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<LegacyStatus, E> {
                Ok(LegacyStatus(Some(None)))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<LegacyStatus, E> {
                Ok(LegacyStatus(Some(None)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<LegacyStatus, A::Error> {
                drain_seq(seq)?;
                Ok(LegacyStatus(Some(None)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<LegacyStatus, A::Error> {
                drain_map(map)?;
                Ok(LegacyStatus(Some(None)))
            }
        }
        d.deserialize_any(V)
    }
}

/// `json::parse_action_type`; `None` when null.
struct Action(Option<ActionType>);

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Action;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an action type")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Action, E> {
                Ok(Action(None))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Action, E> {
                ActionType::parse(s)
                    .or_else(|| ActionType::parse(&s.trim().to_ascii_uppercase()))
                    .map(|a| Action(Some(a)))
                    .ok_or_else(bail)
            }
            refuse!(bool, i64, u64, f64, seq, map);
        }
        d.deserialize_any(V)
    }
}

/// `json::scalar_string`: strings as they are, numbers and booleans as text, anything else
/// (null, arrays, objects) `None`.
struct Scalar(Option<String>);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Scalar, E> {
                Ok(Scalar(Some(s.to_owned())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Scalar, E> {
                Ok(Scalar(Some(s)))
            }
            // Numbers are written as a `Value` holding them writes them.
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Scalar, E> {
                Ok(Scalar(Some(serde_json::Number::from(n).to_string())))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Scalar, E> {
                Ok(Scalar(Some(serde_json::Number::from(n).to_string())))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Scalar, E> {
                Ok(Scalar(
                    serde_json::Number::from_f64(n).map(|n| n.to_string()),
                ))
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Scalar, E> {
                Ok(Scalar(Some(b.to_string())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Scalar, A::Error> {
                drain_seq(seq)?;
                Ok(Scalar(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Scalar, A::Error> {
                drain_map(map)?;
                Ok(Scalar(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// Whether a value is a string passing `test`; any other value is `false`.
#[derive(Clone, Copy)]
struct StrIs(fn(&str) -> bool);

impl<'de> DeserializeSeed<'de> for StrIs {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrIs {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<bool, E> {
        Ok((self.0)(s))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<bool, A::Error> {
        drain_seq(seq)?;
        Ok(false)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<bool, A::Error> {
        drain_map(map)?;
        Ok(false)
    }
}

// ---------------------------------------------------------------------------------------------
// Ports.

/// A port as written (`json::parse_port` before the enabled and range checks); `None` when
/// null.
struct Port(Option<WirePort>);

struct WirePort {
    /// `@enabled`, when present.
    enabled: Option<bool>,
    number: u64,
}

impl Port {
    /// The port after Eureka's default for an absent `@enabled` and the range check; `Err` when
    /// the slow path would refuse it.
    fn finish<E: de::Error>(self, enabled_by_default: bool) -> Result<Option<u16>, E> {
        let Some(port) = self.0 else {
            return Ok(None);
        };
        if !port.enabled.unwrap_or(enabled_by_default) {
            return Ok(None);
        }
        match u16::try_from(port.number) {
            Ok(n) if n != 0 => Ok(Some(n)),
            _ => Err(bail()),
        }
    }
}

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Port;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a port")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Port, E> {
                Ok(Port(None))
            }
            // A bare number or numeric string counts as `{"$": ..}`.
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Port, E> {
                Ok(Port(Some(WirePort {
                    enabled: None,
                    number: n,
                })))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Port, E> {
                let number = port_number(s)?;
                Ok(Port(Some(WirePort {
                    enabled: None,
                    number,
                })))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Port, A::Error> {
                let mut number = None;
                let mut enabled = None;
                while let Some(key) = map.next_key::<PortKey>()? {
                    match key {
                        PortKey::Number => number = map.next_value::<PortNumber>()?.0,
                        PortKey::Enabled => enabled = map.next_value::<Enabled>()?.0,
                        PortKey::Other => {
                            map.next_value::<Skip>()?;
                        }
                    }
                }
                let number = number.ok_or_else(bail)?;
                Ok(Port(Some(WirePort { enabled, number })))
            }
            refuse!(bool, i64, f64, seq);
        }
        d.deserialize_any(V)
    }
}

fn port_number<E: de::Error>(s: &str) -> Result<u64, E> {
    s.trim().parse::<u64>().map_err(|_| bail())
}

/// A port's `$`; `None` when null.
struct PortNumber(Option<u64>);

impl<'de> Deserialize<'de> for PortNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PortNumber;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a port number")
            }
            fn visit_unit<E: de::Error>(self) -> Result<PortNumber, E> {
                Ok(PortNumber(None))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<PortNumber, E> {
                Ok(PortNumber(Some(n)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<PortNumber, E> {
                port_number(s).map(|n| PortNumber(Some(n)))
            }
            refuse!(bool, i64, f64, seq, map);
        }
        d.deserialize_any(V)
    }
}

/// A port's `@enabled` as `json::boolean` reads it; `None` when null.
struct Enabled(Option<bool>);

impl<'de> Deserialize<'de> for Enabled {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Enabled;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true or false")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Enabled, E> {
                Ok(Enabled(None))
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Enabled, E> {
                Ok(Enabled(Some(b)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Enabled, E> {
                let s = s.trim();
                if s.eq_ignore_ascii_case("true") {
                    Ok(Enabled(Some(true)))
                } else if s.eq_ignore_ascii_case("false") {
                    Ok(Enabled(Some(false)))
                } else {
                    Err(bail())
                }
            }
            refuse!(i64, u64, f64, seq, map);
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------------------------
// Nested objects.

/// `json::parse_metadata`: `@class` dropped, scalars as text, other values skipped; null or a
/// blank string is no metadata.
struct Metadata(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Metadata;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("metadata")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Metadata, E> {
                Ok(Metadata(BTreeMap::new()))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Metadata, E> {
                if s.trim().is_empty() {
                    Ok(Metadata(BTreeMap::new()))
                } else {
                    Err(bail())
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Metadata, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    check_key(&key)?;
                    if key == "@class" {
                        map.next_value::<Skip>()?;
                        continue;
                    }
                    match map.next_value::<Scalar>()?.0 {
                        Some(value) => {
                            out.insert(key, value);
                        }
                        // A repeated key keeps its last value, here none.
                        None => {
                            out.remove(&key);
                        }
                    }
                }
                Ok(Metadata(out))
            }
            refuse!(bool, i64, u64, f64, seq);
        }
        d.deserialize_any(V)
    }
}

/// An object that may also be written as null or a blank string (an empty XML element), both
/// meaning absent: `json::optional_object`. `T` reads the object's entries.
struct OptionalObject<T>(Option<T>);

impl<'de, T: FromEntries<'de>> Deserialize<'de> for OptionalObject<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: FromEntries<'de>> Visitor<'de> for V<T> {
            type Value = OptionalObject<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(OptionalObject(None))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                if s.trim().is_empty() {
                    Ok(OptionalObject(None))
                } else {
                    Err(bail())
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::from_entries(map).map(|t| OptionalObject(Some(t)))
            }
            refuse!(bool, i64, u64, f64, seq);
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A value read from an object's entries.
trait FromEntries<'de>: Sized {
    fn from_entries<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error>;
}

/// What `dataCenterInfo` says about the instance.
struct DataCenter {
    /// `@class` ends with `AmazonInfo`.
    amazon_class: bool,
    /// `name` is `Amazon`.
    amazon_name: bool,
    metadata: Option<DataCenterMetadata>,
}

struct DataCenterMetadata {
    zone: Option<String>,
    instance_id: Option<String>,
}

impl<'de> FromEntries<'de> for DataCenter {
    fn from_entries<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut dc = DataCenter {
            amazon_class: false,
            amazon_name: false,
            metadata: None,
        };
        while let Some(key) = map.next_key::<DcKey>()? {
            match key {
                DcKey::Class => {
                    dc.amazon_class = map.next_value_seed(StrIs(|c| c.ends_with("AmazonInfo")))?;
                }
                DcKey::Name => dc.amazon_name = map.next_value_seed(StrIs(|n| n == "Amazon"))?,
                DcKey::Metadata => {
                    dc.metadata = map.next_value::<OptionalObject<DataCenterMetadata>>()?.0;
                }
                DcKey::Other => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(dc)
    }
}

impl<'de> FromEntries<'de> for DataCenterMetadata {
    fn from_entries<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut m = DataCenterMetadata {
            zone: None,
            instance_id: None,
        };
        while let Some(key) = map.next_key::<DcMetaKey>()? {
            match key {
                DcMetaKey::Zone => m.zone = map.next_value::<Scalar>()?.0,
                DcMetaKey::InstanceId => m.instance_id = map.next_value::<Scalar>()?.0,
                DcMetaKey::Other => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(m)
    }
}

/// `leaseInfo.registrationTimestamp`.
struct Lease(Option<u64>);

impl<'de> FromEntries<'de> for Lease {
    fn from_entries<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut registered = None;
        while let Some(key) = map.next_key::<LeaseKey>()? {
            match key {
                LeaseKey::RegistrationTimestamp => {
                    registered = map.next_value::<Timestamp>()?.0;
                }
                LeaseKey::Other => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(Lease(registered))
    }
}

/// `json::one_or_many`: absent (null), one object, or an array of them.
struct OneOrMany<T>(Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object or an array of objects")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(OneOrMany(Vec::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element::<T>()? {
                    out.push(item);
                }
                Ok(OneOrMany(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(|one| OneOrMany(vec![one]))
            }
            refuse!(bool, i64, u64, f64);
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Err(bail())
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

// ---------------------------------------------------------------------------------------------
// The Eureka structure.

/// An InstanceInfo, normalized except for `app`, which an enclosing application may supply.
struct Instance {
    /// `app`, when the instance names it.
    app: Option<String>,
    /// The instance with an empty `app`.
    instance: EurekaInstance,
}

impl Instance {
    fn with_app(self, app_name: Option<&str>) -> Option<EurekaInstance> {
        let mut instance = self.instance;
        instance.app = match (self.app, app_name) {
            (Some(app), _) => app,
            (None, Some(name)) => name.to_owned(),
            (None, None) => return None,
        };
        Some(instance)
    }
}

impl<'de> Deserialize<'de> for Instance {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Instance;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an instance")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Instance, A::Error> {
                instance(map)
            }
        }
        d.deserialize_map(V)
    }
}

/// `json::instance`, without the `app` fallback.
fn instance<'de, A: MapAccess<'de>>(mut map: A) -> Result<Instance, A::Error> {
    let mut app = None;
    let mut instance_id: Option<String> = None;
    let mut host_name: Option<String> = None;
    let mut ip_addr: Option<String> = None;
    let mut status = None;
    let mut overridden = None;
    let mut legacy_overridden = None;
    let mut port = Port(None);
    let mut secure_port = Port(None);
    let mut metadata = BTreeMap::new();
    let mut data_center = None;
    let mut registered = None;
    let mut action_type = None;
    let mut last_updated = None;
    let mut last_dirty = None;
    while let Some(key) = map.next_key::<InstKey>()? {
        match key {
            InstKey::App => app = map.next_value()?,
            InstKey::InstanceId => instance_id = map.next_value()?,
            InstKey::HostName => host_name = map.next_value()?,
            InstKey::IpAddr => ip_addr = map.next_value()?,
            InstKey::Status => status = map.next_value::<Status>()?.0,
            InstKey::OverriddenStatus => overridden = map.next_value::<Status>()?.0,
            InstKey::LegacyOverriddenStatus => {
                legacy_overridden = map.next_value::<LegacyStatus>()?.0;
            }
            InstKey::Port => port = map.next_value()?,
            InstKey::SecurePort => secure_port = map.next_value()?,
            InstKey::Metadata => metadata = map.next_value::<Metadata>()?.0,
            InstKey::DataCenterInfo => {
                data_center = map.next_value::<OptionalObject<DataCenter>>()?.0;
            }
            InstKey::LeaseInfo => {
                registered = map
                    .next_value::<OptionalObject<Lease>>()?
                    .0
                    .and_then(|l| l.0);
            }
            InstKey::ActionType => action_type = map.next_value::<Action>()?.0,
            InstKey::LastUpdatedTimestamp => last_updated = map.next_value::<Timestamp>()?.0,
            InstKey::LastDirtyTimestamp => last_dirty = map.next_value::<Timestamp>()?.0,
            InstKey::Other => {
                map.next_value::<Skip>()?;
            }
        }
    }

    let host_name = host_name.unwrap_or_default();
    let status = status.ok_or_else(bail)?;
    // `overriddenStatus` wins over the legacy `overriddenstatus`, which is not even looked at
    // when the current one is there.
    let overridden_status = match (overridden, legacy_overridden) {
        (Some(s), _) | (None, Some(Some(s))) => s,
        (None, None) => InstanceStatus::Unknown,
        (None, Some(None)) => return Err(bail()),
    };
    let port = port.finish(true)?;
    let secure_port = secure_port.finish(false)?;

    let (is_amazon, dc_metadata) = match data_center {
        Some(dc) => (dc.amazon_class || dc.amazon_name, dc.metadata),
        None => (false, None),
    };
    let (dc_zone, amazon_id) = match dc_metadata {
        Some(m) => (m.zone, m.instance_id.filter(|_| is_amazon)),
        None => (None, None),
    };
    let availability_zone = dc_zone.filter(|z| !z.is_empty()).or_else(|| {
        metadata
            .get(crate::json::SPRING_ZONE_KEY)
            .filter(|z| !z.is_empty())
            .cloned()
    });
    let instance_id = instance_id
        .filter(|id| !id.is_empty())
        .or(amazon_id.filter(|id| !id.is_empty()))
        .or_else(|| Some(host_name.clone()).filter(|h| !h.is_empty()))
        .ok_or_else(bail)?;

    Ok(Instance {
        app,
        instance: EurekaInstance {
            app: String::new(),
            instance_id,
            host_name,
            ip_addr: ip_addr.unwrap_or_default(),
            status,
            overridden_status,
            port,
            secure_port,
            metadata,
            availability_zone,
            action_type,
            last_updated_timestamp: last_updated.unwrap_or(0),
            last_dirty_timestamp: last_dirty.unwrap_or(0),
            registration_timestamp: registered.unwrap_or(0),
        },
    })
}

/// `json::application`.
struct Application(EurekaApplication);

impl<'de> Deserialize<'de> for Application {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Application;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an application")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Application, A::Error> {
                let mut name: Option<String> = None;
                let mut listed = Vec::new();
                while let Some(key) = map.next_key::<AppKey>()? {
                    match key {
                        AppKey::Name => name = map.next_value()?,
                        AppKey::Instance => listed = map.next_value::<OneOrMany<Instance>>()?.0,
                        AppKey::Other => {
                            map.next_value::<Skip>()?;
                        }
                    }
                }
                let name = name.ok_or_else(bail)?;
                let mut instances = Vec::with_capacity(listed.len());
                for i in listed {
                    instances.push(i.with_app(Some(&name)).ok_or_else(bail)?);
                }
                Ok(Application(EurekaApplication {
                    name,
                    instances: merge::instances(instances),
                }))
            }
        }
        d.deserialize_map(V)
    }
}

/// `json::applications`.
struct Applications(EurekaDocument);

impl<'de> Deserialize<'de> for Applications {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Applications;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("applications")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Applications, A::Error> {
                let mut versions_delta = None;
                let mut apps_hashcode = None;
                let mut listed = Vec::new();
                while let Some(key) = map.next_key::<AppsKey>()? {
                    match key {
                        AppsKey::VersionsDelta => versions_delta = map.next_value::<Delta>()?.0,
                        AppsKey::AppsHashcode => apps_hashcode = map.next_value()?,
                        AppsKey::Application => {
                            listed = map.next_value::<OneOrMany<Application>>()?.0;
                        }
                        AppsKey::Other => {
                            map.next_value::<Skip>()?;
                        }
                    }
                }
                Ok(Applications(EurekaDocument::Applications {
                    versions_delta,
                    apps_hashcode,
                    applications: merge::applications(listed.into_iter().map(|a| a.0).collect()),
                }))
            }
        }
        d.deserialize_map(V)
    }
}

/// The document root: one of the three wrapping keys.
#[derive(Default)]
struct Root {
    applications: Option<EurekaDocument>,
    application: Option<EurekaApplication>,
    instance: Option<Instance>,
}

impl Root {
    /// The document as `json::document` picks it: `applications` first, then `application`,
    /// then `instance`; anything else (a bare InstanceInfo) is for the slow path.
    fn finish(self) -> Option<EurekaDocument> {
        if let Some(doc) = self.applications {
            return Some(doc);
        }
        if let Some(app) = self.application {
            return Some(EurekaDocument::Application(app));
        }
        self.instance
            .and_then(|i| i.with_app(None))
            .map(EurekaDocument::Instance)
    }
}

impl<'de> Deserialize<'de> for Root {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Root;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Eureka document")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Root, A::Error> {
                let mut root = Root::default();
                // The keys the slow path prefers, once seen, make the others unread there: here
                // they are only validated as JSON. (Seen in the other order, an invalid one makes
                // us give up.)
                let mut has_applications = false;
                let mut has_application = false;
                while let Some(key) = map.next_key::<RootKey>()? {
                    match key {
                        RootKey::Applications => {
                            root.applications = Some(map.next_value::<Applications>()?.0);
                            has_applications = true;
                        }
                        RootKey::Application if !has_applications => {
                            root.application = Some(map.next_value::<Application>()?.0);
                            has_application = true;
                        }
                        RootKey::Instance if !has_applications && !has_application => {
                            root.instance = Some(map.next_value()?);
                        }
                        RootKey::Application | RootKey::Instance | RootKey::Other => {
                            map.next_value::<Skip>()?;
                        }
                    }
                }
                Ok(root)
            }
        }
        d.deserialize_map(V)
    }
}
