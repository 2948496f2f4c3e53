//! Units: the slices of the registry state that are stored, loaded and rewritten on their own.
//! A Eureka application, a Eureka registry's whole-document membership, a Dubbo interface and a
//! Dubbo 3 application are each one unit, stored as one object of the generation.

use std::collections::BTreeSet;

use regsync_dubbo::url::{decode_component, encode_component};
use regsync_model::state::{DubboAppState, DubboInterfaceState, EurekaAppState};
use regsync_model::{RegistryState, Versioned};
use serde::{Deserialize, Serialize};

/// Version of the unit and entry object formats.
pub const OBJECT_FORMAT: u32 = 1;

/// Generation key prefix of rendered entries: `entry/<host>`.
pub const ENTRY_PREFIX: &str = "entry/";

/// One stored slice of the state.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Unit {
    /// Which applications the newest whole `/eureka/apps` document of a registry listed.
    EurekaRegistry { registry: String },
    /// One Eureka application.
    EurekaApp { registry: String, app: String },
    /// One Dubbo interface (interface-level znodes and its mapping).
    DubboInterface { registry: String, interface: String },
    /// One Dubbo 3 application's instances.
    DubboApplication { registry: String, app: String },
}

impl Unit {
    /// Its kind: the key's first segment, and the `kind` of the object it holds.
    pub fn kind(&self) -> &'static str {
        match self {
            Unit::EurekaRegistry { .. } => "eureka-registry",
            Unit::EurekaApp { .. } => "eureka-app",
            Unit::DubboInterface { .. } => "dubbo-interface",
            Unit::DubboApplication { .. } => "dubbo-application",
        }
    }

    /// Its key in a generation: its kind, then the URL-encoded registry and name.
    pub fn key(&self) -> String {
        let e = |s: &str| encode_component(s);
        match self {
            Unit::EurekaRegistry { registry } => format!("{}/{}", self.kind(), e(registry)),
            Unit::EurekaApp {
                registry,
                app: name,
            }
            | Unit::DubboInterface {
                registry,
                interface: name,
            }
            | Unit::DubboApplication {
                registry,
                app: name,
            } => format!("{}/{}/{}", self.kind(), e(registry), e(name)),
        }
    }

    /// The unit a generation key names, if it names one.
    pub fn parse(key: &str) -> Option<Unit> {
        let d = |s: &str| decode_component(s).ok();
        let (kind, rest) = key.split_once('/')?;
        if kind == "eureka-registry" {
            return Some(Unit::EurekaRegistry { registry: d(rest)? });
        }
        let (registry, name) = rest.split_once('/')?;
        let (registry, name) = (d(registry)?, d(name)?);
        match kind {
            "eureka-app" => Some(Unit::EurekaApp {
                registry,
                app: name,
            }),
            "dubbo-interface" => Some(Unit::DubboInterface {
                registry,
                interface: name,
            }),
            "dubbo-application" => Some(Unit::DubboApplication {
                registry,
                app: name,
            }),
            _ => None,
        }
    }

    /// The prefix of every Eureka application key of `registry`.
    pub fn eureka_apps_of(registry: &str) -> String {
        format!("eureka-app/{}/", encode_component(registry))
    }

    /// Whether the unit renders entries of its own: Eureka applications, Dubbo interfaces and
    /// Dubbo 3 applications (those no interface maps are Curator discovery entries); a
    /// registry's membership list only feeds its applications.
    pub fn renders(&self) -> bool {
        !matches!(self, Unit::EurekaRegistry { .. })
    }

    /// Every unit present in `state`.
    pub fn all_in(state: &RegistryState) -> BTreeSet<Unit> {
        let mut out = BTreeSet::new();
        for (registry, reg) in &state.eureka {
            if reg.membership.is_some() {
                out.insert(Unit::EurekaRegistry {
                    registry: registry.clone(),
                });
            }
            for app in reg.apps.keys() {
                out.insert(Unit::EurekaApp {
                    registry: registry.clone(),
                    app: app.clone(),
                });
            }
        }
        for (registry, reg) in &state.dubbo {
            for interface in reg.interfaces.keys() {
                out.insert(Unit::DubboInterface {
                    registry: registry.clone(),
                    interface: interface.clone(),
                });
            }
            for app in reg.applications.keys() {
                out.insert(Unit::DubboApplication {
                    registry: registry.clone(),
                    app: app.clone(),
                });
            }
        }
        out
    }
}

/// What a Eureka application remembers of its registry's whole-document membership: the
/// document's version and whether it listed the application. It answers
/// `EurekaRegistry::is_member` for this application exactly as the full list would, so
/// rendering one application never reads the list of all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    /// `major` of the membership document's stamp.
    pub version: u64,
    /// Whether the document listed this application.
    pub listed: bool,
}

/// The state slice a unit holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Slice {
    /// [`Unit::EurekaRegistry`].
    EurekaRegistry {
        membership: Versioned<BTreeSet<String>>,
    },
    /// [`Unit::EurekaApp`].
    EurekaApp {
        app: EurekaAppState,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        listing: Option<Listing>,
    },
    /// [`Unit::DubboInterface`].
    DubboInterface { interface: DubboInterfaceState },
    /// [`Unit::DubboApplication`]; `mapped_by` lists the interfaces whose mapping names it.
    DubboApplication {
        application: DubboAppState,
        #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
        mapped_by: BTreeSet<String>,
    },
}

/// A unit object as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitObject {
    /// [`OBJECT_FORMAT`].
    pub format: u32,
    /// The state.
    pub slice: Slice,
    /// Hosts whose entries (or rejections) this unit contributes to.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub hosts: BTreeSet<String>,
}

/// A rendered entry as stored under `entry/<host>`: the entry (absent when every endpoint was
/// rejected), why anything was left out, and the units that contributed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryObject {
    /// [`OBJECT_FORMAT`].
    pub format: u32,
    /// The ServiceEntry, when one is emitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<regsync_model::Entry>,
    /// What was left out for this host, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<regsync_model::snapshot::Rejection>,
    /// Keys of the units whose state produced this host.
    pub units: BTreeSet<String>,
}

/// A [`Slice`] borrowed from the state: what [`UnitObjectRef`] writes without copying the state.
/// It serializes to exactly the bytes of the owned [`Slice`] with the same values.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SliceRef<'a> {
    /// [`Slice::EurekaRegistry`].
    EurekaRegistry {
        membership: &'a Versioned<BTreeSet<String>>,
    },
    /// [`Slice::EurekaApp`].
    EurekaApp {
        app: &'a EurekaAppState,
        #[serde(skip_serializing_if = "Option::is_none")]
        listing: Option<Listing>,
    },
    /// [`Slice::DubboInterface`].
    DubboInterface { interface: &'a DubboInterfaceState },
    /// [`Slice::DubboApplication`].
    DubboApplication {
        application: &'a DubboAppState,
        #[serde(skip_serializing_if = "is_empty")]
        mapped_by: &'a BTreeSet<String>,
    },
}

/// A [`UnitObject`] borrowed from the state; the same bytes.
#[derive(Debug, Serialize)]
pub struct UnitObjectRef<'a> {
    /// [`OBJECT_FORMAT`].
    pub format: u32,
    /// The state.
    pub slice: SliceRef<'a>,
    /// Hosts whose entries (or rejections) this unit contributes to.
    #[serde(skip_serializing_if = "is_empty")]
    pub hosts: &'a BTreeSet<String>,
}

fn is_empty(set: &&BTreeSet<String>) -> bool {
    set.is_empty()
}

/// No names, to borrow.
pub static NO_NAMES: BTreeSet<String> = BTreeSet::new();
/// A Dubbo 3 application with no instances, to borrow.
pub static NO_APPLICATION: DubboAppState = DubboAppState {
    instances: None,
    first_seen_ms: None,
};

impl SliceRef<'_> {
    /// Whether it holds the state of `owned`, bookkeeping (listing, mapped_by) aside.
    pub fn same_state(&self, owned: &Slice) -> bool {
        match (self, owned) {
            (
                SliceRef::EurekaRegistry { membership: a },
                Slice::EurekaRegistry { membership: b },
            ) => *a == b,
            (SliceRef::EurekaApp { app: a, .. }, Slice::EurekaApp { app: b, .. }) => *a == b,
            (SliceRef::DubboInterface { interface: a }, Slice::DubboInterface { interface: b }) => {
                *a == b
            }
            (
                SliceRef::DubboApplication { application: a, .. },
                Slice::DubboApplication { application: b, .. },
            ) => *a == b,
            _ => false,
        }
    }
}

/// The state of `unit` in `state`, borrowed, without bookkeeping: what [`extract`] copies.
pub fn borrow<'a>(state: &'a RegistryState, unit: &Unit) -> Option<SliceRef<'a>> {
    Some(match unit {
        Unit::EurekaRegistry { registry } => SliceRef::EurekaRegistry {
            membership: state.eureka.get(registry)?.membership.as_ref()?,
        },
        Unit::EurekaApp { registry, app } => SliceRef::EurekaApp {
            app: state.eureka.get(registry)?.apps.get(app)?,
            listing: None,
        },
        Unit::DubboInterface {
            registry,
            interface,
        } => SliceRef::DubboInterface {
            interface: state.dubbo.get(registry)?.interfaces.get(interface)?,
        },
        Unit::DubboApplication { registry, app } => SliceRef::DubboApplication {
            application: state.dubbo.get(registry)?.applications.get(app)?,
            mapped_by: &NO_NAMES,
        },
    })
}

/// Whether `unit` holds in `state` what `old` (from [`extract`]) held.
pub fn unchanged(state: &RegistryState, unit: &Unit, old: Option<&Slice>) -> bool {
    match (borrow(state, unit), old) {
        (None, None) => true,
        (Some(now), Some(old)) => now.same_state(old),
        _ => false,
    }
}

/// Puts `slice` of `unit` into `state`.
pub fn insert(state: &mut RegistryState, unit: &Unit, slice: Slice) {
    match (unit, slice) {
        (Unit::EurekaRegistry { registry }, Slice::EurekaRegistry { membership }) => {
            state.eureka.entry(registry.clone()).or_default().membership = Some(membership);
        }
        (Unit::EurekaApp { registry, app }, Slice::EurekaApp { app: s, .. }) => {
            let reg = state.eureka.entry(registry.clone()).or_default();
            reg.apps.insert(app.clone(), s);
        }
        (
            Unit::DubboInterface {
                registry,
                interface,
            },
            Slice::DubboInterface { interface: s },
        ) => {
            let reg = state.dubbo.entry(registry.clone()).or_default();
            reg.interfaces.insert(interface.clone(), s);
        }
        (Unit::DubboApplication { registry, app }, Slice::DubboApplication { application, .. }) => {
            let reg = state.dubbo.entry(registry.clone()).or_default();
            reg.applications.insert(app.clone(), application);
        }
        // A key of one kind holding another kind's slice is rejected when read (see `decode`).
        _ => {}
    }
}

/// The state of `unit` in `state`, without its bookkeeping (listing, mapped_by), if present.
pub fn extract(state: &RegistryState, unit: &Unit) -> Option<Slice> {
    match unit {
        Unit::EurekaRegistry { registry } => Some(Slice::EurekaRegistry {
            membership: state.eureka.get(registry)?.membership.clone()?,
        }),
        Unit::EurekaApp { registry, app } => Some(Slice::EurekaApp {
            app: state.eureka.get(registry)?.apps.get(app)?.clone(),
            listing: None,
        }),
        Unit::DubboInterface {
            registry,
            interface,
        } => Some(Slice::DubboInterface {
            interface: state
                .dubbo
                .get(registry)?
                .interfaces
                .get(interface)?
                .clone(),
        }),
        Unit::DubboApplication { registry, app } => Some(Slice::DubboApplication {
            application: state.dubbo.get(registry)?.applications.get(app)?.clone(),
            mapped_by: BTreeSet::new(),
        }),
    }
}

/// Whether `state` holds anything for `unit` (what `extract` would return, without the copy).
pub fn present(state: &RegistryState, unit: &Unit) -> bool {
    borrow(state, unit).is_some()
}

/// Whether `slice` is the kind of state `unit` holds.
pub fn fits(unit: &Unit, slice: &Slice) -> bool {
    unit.kind() == slice.kind()
}

impl Slice {
    /// The kind of unit it belongs to, as spelled in the object's `kind` field.
    pub fn kind(&self) -> &'static str {
        match self {
            Slice::EurekaRegistry { .. } => "eureka-registry",
            Slice::EurekaApp { .. } => "eureka-app",
            Slice::DubboInterface { .. } => "dubbo-interface",
            Slice::DubboApplication { .. } => "dubbo-application",
        }
    }
}

/// The applications a Dubbo interface's mapping names.
pub fn mapped_apps(slice: &Slice) -> BTreeSet<String> {
    match slice {
        Slice::DubboInterface { interface } => interface
            .mapping
            .iter()
            .flat_map(|m| m.value.iter().cloned())
            .collect(),
        _ => BTreeSet::new(),
    }
}

/// A registry's membership as seen through the listings of its loaded applications: one
/// document version, listing exactly the applications that say they were listed.
pub fn membership_from_listings<'a>(
    listings: impl Iterator<Item = (&'a str, Listing)>,
) -> Option<Versioned<BTreeSet<String>>> {
    let mut version = None;
    let mut names = BTreeSet::new();
    for (app, l) in listings {
        version = Some(version.map_or(l.version, |v: u64| v.max(l.version)));
        if l.listed {
            names.insert(app.to_owned());
        }
    }
    Some(Versioned::new(version?, 0, 0, names))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_whatever_the_names_hold() {
        for unit in [
            Unit::EurekaRegistry {
                registry: "eu/west".into(),
            },
            Unit::EurekaApp {
                registry: "eureka".into(),
                app: "ORDERS/V2 %".into(),
            },
            Unit::DubboInterface {
                registry: "dubbo".into(),
                interface: "com.acme.Greeter".into(),
            },
            Unit::DubboApplication {
                registry: "zk 1".into(),
                app: "shop-app".into(),
            },
        ] {
            assert_eq!(Unit::parse(&unit.key()), Some(unit.clone()), "{unit:?}");
        }
        assert_eq!(Unit::parse("entry/orders.eureka"), None);
    }

    /// A state with one unit of every kind, each holding something.
    fn state() -> (RegistryState, [Unit; 4]) {
        let mut state = RegistryState::default();
        let eureka = state.eureka.entry("eureka".into()).or_default();
        eureka.membership = Some(Versioned::new(7, 0, 0, BTreeSet::from(["ORDERS".into()])));
        eureka.apps.insert(
            "ORDERS".into(),
            EurekaAppState {
                first_seen_ms: Some(5),
                ..Default::default()
            },
        );
        let dubbo = state.dubbo.entry("dubbo".into()).or_default();
        dubbo.interfaces.insert(
            "com.acme.Greeter".into(),
            DubboInterfaceState {
                mapping: Some(Versioned::new(3, 0, 0, vec!["shop-app".into()])),
                ..Default::default()
            },
        );
        dubbo.applications.insert(
            "shop-app".into(),
            DubboAppState {
                first_seen_ms: Some(9),
                ..Default::default()
            },
        );
        let units = [
            Unit::EurekaRegistry {
                registry: "eureka".into(),
            },
            Unit::EurekaApp {
                registry: "eureka".into(),
                app: "ORDERS".into(),
            },
            Unit::DubboInterface {
                registry: "dubbo".into(),
                interface: "com.acme.Greeter".into(),
            },
            Unit::DubboApplication {
                registry: "dubbo".into(),
                app: "shop-app".into(),
            },
        ];
        (state, units)
    }

    #[test]
    fn a_borrowed_object_writes_the_bytes_of_the_owned_one() {
        let (state, units) = state();
        let listing = Listing {
            version: 7,
            listed: true,
        };
        let names = BTreeSet::from(["com.acme.Greeter".to_owned()]);
        for unit in &units {
            for hosts in [
                BTreeSet::new(),
                BTreeSet::from(["orders.eureka".to_owned()]),
            ] {
                // Bare, and with the bookkeeping each kind carries.
                for bookkeeping in [false, true] {
                    let mut owned = extract(&state, unit).unwrap();
                    let mut borrowed = borrow(&state, unit).unwrap();
                    if bookkeeping {
                        match (&mut owned, &mut borrowed) {
                            (
                                Slice::EurekaApp { listing: a, .. },
                                SliceRef::EurekaApp { listing: b, .. },
                            ) => (*a, *b) = (Some(listing), Some(listing)),
                            (
                                Slice::DubboApplication { mapped_by: a, .. },
                                SliceRef::DubboApplication { mapped_by: b, .. },
                            ) => (*a, *b) = (names.clone(), &names),
                            _ => {}
                        }
                    }
                    let owned = UnitObject {
                        format: OBJECT_FORMAT,
                        slice: owned,
                        hosts: hosts.clone(),
                    };
                    let borrowed = UnitObjectRef {
                        format: OBJECT_FORMAT,
                        slice: borrowed,
                        hosts: &hosts,
                    };
                    assert_eq!(
                        serde_json::to_string(&borrowed).unwrap(),
                        serde_json::to_string(&owned).unwrap(),
                        "{unit:?}"
                    );
                }
            }
        }
        assert_eq!(
            serde_json::to_string(&SliceRef::DubboApplication {
                application: &NO_APPLICATION,
                mapped_by: &names
            })
            .unwrap(),
            serde_json::to_string(&Slice::DubboApplication {
                application: DubboAppState::default(),
                mapped_by: names.clone()
            })
            .unwrap()
        );
    }

    #[test]
    fn unchanged_compares_the_state_and_nothing_else() {
        let (mut state, units) = state();
        let before: Vec<Option<Slice>> = units.iter().map(|u| extract(&state, u)).collect();
        for (unit, old) in units.iter().zip(&before) {
            assert!(unchanged(&state, unit, old.as_ref()), "{unit:?}");
            assert!(!unchanged(&state, unit, None), "{unit:?}");
        }
        // Another kind's slice never matches.
        assert!(!unchanged(&state, &units[0], before[1].as_ref()));
        state
            .eureka
            .get_mut("eureka")
            .unwrap()
            .apps
            .get_mut("ORDERS")
            .unwrap()
            .first_seen_ms = Some(6);
        assert!(!unchanged(&state, &units[1], before[1].as_ref()));
        assert!(unchanged(&state, &units[2], before[2].as_ref()));
        state.dubbo.clear();
        assert!(!unchanged(&state, &units[3], before[3].as_ref()));
    }
}
