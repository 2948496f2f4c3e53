//! Applying a batch of events to the latest generation, reading and rewriting only the units the
//! batch touches, the units that depend on them, and the entries of their hosts.
//!
//! One attempt:
//! 1. Parse each event once and learn which units it touches (the applications a Eureka document
//!    names; for ZooKeeper, by folding it into an empty state); load those.
//! 2. Fold the batch into the loaded slice of the state; note which units moved.
//! 3. Follow dependencies: a whole-registry Eureka document re-lists every application of the
//!    registry; a Dubbo mapping change moves the reverse index of the applications it names; a
//!    Dubbo 3 application feeds every interface whose mapping names it; a host shared by several
//!    units (the same application in two registries) needs all of them.
//! 4. Render each loaded unit on its own (which also tells the hosts it feeds), render once more
//!    only the units that share a host, then write the unit and entry objects whose bytes
//!    changed.
//!
//! The result is the same as rendering the whole state at once (tests/sharded.rs).

use std::collections::{BTreeMap, BTreeSet};

use regsync_convert::fold::{Outcome, Parsed, apply_event, apply_parsed};
use regsync_convert::{ConvertConfig, render};
use regsync_model::snapshot::Rejection;
use regsync_model::{Entry, RegistryEvent, RegistryState};
use regsync_store::generations::{Change, Generation};
use regsync_store::{Error, Result, Store};

use crate::unit::{
    ENTRY_PREFIX, EntryObject, Listing, NO_APPLICATION, NO_NAMES, OBJECT_FORMAT, Slice, SliceRef,
    Unit, UnitObject, UnitObjectRef, borrow, extract, fits, insert, mapped_apps,
    membership_from_listings, present, unchanged,
};

/// What one attempt decided to write.
#[derive(Debug, Default)]
pub struct Plan {
    /// Objects to write or remove.
    pub changes: Vec<Change>,
    /// One outcome per event, in input order.
    pub outcomes: Vec<Outcome>,
    /// Units whose state moved.
    pub moved: BTreeSet<Unit>,
    /// Hosts whose entries were rendered again.
    pub hosts: BTreeSet<String>,
    /// Unit and entry objects written or removed.
    pub written: usize,
}

/// A unit as loaded: its object and the exact bytes, `None` when the generation has none.
type Loaded = Option<(UnitObject, Vec<u8>)>;

/// The loaded part of a generation and the state folded from it.
struct Workspace<'a> {
    store: &'a Store,
    base: &'a Generation,
    loaded: BTreeMap<Unit, Loaded>,
    state: RegistryState,
    entries: BTreeMap<String, Option<(EntryObject, Vec<u8>)>>,
    /// The slice of every unit loaded before the batch was folded (units loaded later did not
    /// move).
    before: BTreeMap<Unit, Option<Slice>>,
}

fn decode<T: for<'de> serde::Deserialize<'de>>(key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::Layout {
        key: key.to_owned(),
        why: e.to_string(),
    })
}

/// Serializes `value` into `buf`, which is reused from object to object so that large objects
/// do not grow a fresh vector by doubling each time.
fn encode_into<'b, T: serde::Serialize>(buf: &'b mut Vec<u8>, value: &T) -> &'b [u8] {
    buf.clear();
    serde_json::to_writer(&mut *buf, value).expect("snapshot objects always serialize");
    buf
}

/// The host a rejection's `namespace/host` resource names.
fn rejection_host(r: &Rejection) -> &str {
    r.resource
        .split_once('/')
        .map_or(r.resource.as_str(), |(_, h)| h)
}

/// The key of the entry object of `host`.
pub fn entry_key(host: &str) -> String {
    format!("{ENTRY_PREFIX}{host}")
}

impl<'a> Workspace<'a> {
    fn new(store: &'a Store, base: &'a Generation) -> Self {
        Self {
            store,
            base,
            loaded: BTreeMap::new(),
            state: RegistryState::default(),
            entries: BTreeMap::new(),
            before: BTreeMap::new(),
        }
    }

    /// Loads the units not loaded yet and puts their state in the workspace.
    async fn load(&mut self, units: impl IntoIterator<Item = Unit>) -> Result<()> {
        let missing: Vec<Unit> = units
            .into_iter()
            .filter(|u| !self.loaded.contains_key(u))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = missing.iter().map(Unit::key).collect();
        let mut found = self.store.read_services(self.base, &keys).await?;
        for (unit, key) in missing.into_iter().zip(keys) {
            let Some(bytes) = found.remove(&key) else {
                self.loaded.insert(unit, None);
                continue;
            };
            let object: UnitObject = decode(&key, &bytes)?;
            if object.format != OBJECT_FORMAT || !fits(&unit, &object.slice) {
                return Err(Error::Layout {
                    key,
                    why: format!(
                        "expected a format {OBJECT_FORMAT} {} object, found a format {} {} object",
                        unit.kind(),
                        object.format,
                        object.slice.kind()
                    ),
                });
            }
            insert(&mut self.state, &unit, object.slice.clone());
            self.loaded.insert(unit, Some((object, bytes)));
        }
        Ok(())
    }

    /// Loads the entry objects of `hosts` not loaded yet.
    async fn load_entries(&mut self, hosts: &BTreeSet<String>) -> Result<()> {
        let missing: Vec<&String> = hosts
            .iter()
            .filter(|h| !self.entries.contains_key(*h))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = missing.iter().map(|h| entry_key(h)).collect();
        let mut found = self.store.read_services(self.base, &keys).await?;
        for (host, key) in missing.into_iter().zip(keys) {
            let loaded = match found.remove(&key) {
                Some(bytes) => Some((decode(&key, &bytes)?, bytes)),
                None => None,
            };
            self.entries.insert(host.clone(), loaded);
        }
        Ok(())
    }

    fn object(&self, unit: &Unit) -> Option<&UnitObject> {
        self.loaded.get(unit)?.as_ref().map(|(o, _)| o)
    }

    /// Whether the real membership list of `registry` is loaded (present or known absent).
    fn has_registry(&self, registry: &str) -> bool {
        self.loaded.contains_key(&Unit::EurekaRegistry {
            registry: registry.to_owned(),
        })
    }

    /// What `app` of `registry` knows of the registry's membership list.
    fn listing(&self, registry: &str, app: &str) -> Option<Listing> {
        if self.has_registry(registry) {
            let m = self.state.eureka.get(registry)?.membership.as_ref()?;
            return Some(Listing {
                version: m.stamp.major,
                listed: m.value.contains(app),
            });
        }
        match &self
            .object(&Unit::EurekaApp {
                registry: registry.to_owned(),
                app: app.to_owned(),
            })?
            .slice
        {
            Slice::EurekaApp { listing, .. } => *listing,
            _ => None,
        }
    }

    /// The interfaces whose mapping names `app`, as stored.
    fn mapped_by(&self, registry: &str, app: &str) -> BTreeSet<String> {
        match self.object(&Unit::DubboApplication {
            registry: registry.to_owned(),
            app: app.to_owned(),
        }) {
            Some(UnitObject {
                slice: Slice::DubboApplication { mapped_by, .. },
                ..
            }) => mapped_by.clone(),
            _ => BTreeSet::new(),
        }
    }

    /// The state needed to render `units`: their slices, the Dubbo 3 applications their
    /// mappings name, and each Eureka registry's membership (the real list when loaded, else the
    /// applications' listings).
    fn render_state(&self, units: &BTreeSet<Unit>) -> RegistryState {
        let mut out = RegistryState::default();
        for unit in units {
            let Some(slice) = extract(&self.state, unit) else {
                continue;
            };
            if let Unit::DubboInterface { registry, .. } = unit {
                for app in mapped_apps(&slice) {
                    let dep = Unit::DubboApplication {
                        registry: registry.clone(),
                        app,
                    };
                    if let Some(s) = extract(&self.state, &dep) {
                        insert(&mut out, &dep, s);
                    }
                }
            }
            insert(&mut out, unit, slice);
        }
        for (registry, reg) in &mut out.eureka {
            reg.membership = if self.has_registry(registry) {
                self.state
                    .eureka
                    .get(registry)
                    .and_then(|r| r.membership.clone())
            } else {
                membership_from_listings(
                    reg.apps
                        .keys()
                        .filter_map(|app| Some((app.as_str(), self.listing(registry, app)?))),
                )
            };
        }
        out
    }

    /// Renders `units` together: their [`Self::render_state`], where a Dubbo 3 application
    /// that an interface maps (`index`, from [`reverse_index`]) is left to that interface even
    /// when the interface is not part of the rendering.
    fn render_units(
        &self,
        units: &BTreeSet<Unit>,
        index: &BTreeMap<Unit, BTreeSet<String>>,
        config: &ConvertConfig,
    ) -> (Vec<Entry>, Vec<Rejection>) {
        let state = self.render_state(units);
        let mut elsewhere = render::MappedElsewhere::new();
        for (registry, reg) in &state.dubbo {
            for app in reg.applications.keys() {
                let key = Unit::DubboApplication {
                    registry: registry.clone(),
                    app: app.clone(),
                };
                if index.get(&key).is_some_and(|by| !by.is_empty()) {
                    elsewhere
                        .entry(registry.clone())
                        .or_default()
                        .insert(app.clone());
                }
            }
        }
        render::render_part(&state, &elsewhere, config)
    }

    /// What `unit` renders on its own: `render_state` of it alone, rendered. A Eureka
    /// application's state is moved into the scratch state and back rather than copied.
    fn render_alone(
        &mut self,
        unit: &Unit,
        index: &BTreeMap<Unit, BTreeSet<String>>,
        config: &ConvertConfig,
    ) -> (Vec<Entry>, Vec<Rejection>) {
        let Unit::EurekaApp { registry, app } = unit else {
            return self.render_units(&BTreeSet::from([unit.clone()]), index, config);
        };
        let whole_list = self.has_registry(registry);
        let listing = self.listing(registry, app);
        let Some(reg) = self.state.eureka.get_mut(registry) else {
            return Default::default();
        };
        let Some(state) = reg.apps.remove(app) else {
            return Default::default();
        };
        let membership = if whole_list {
            reg.membership.take()
        } else {
            membership_from_listings(listing.map(|l| (app.as_str(), l)).into_iter())
        };
        let mut scratch = RegistryState::default();
        scratch.eureka.insert(
            registry.clone(),
            regsync_model::state::EurekaRegistry {
                membership,
                apps: BTreeMap::from([(app.clone(), state)]),
            },
        );
        let out = render::render(&scratch, config);
        // Put back what was moved.
        if let Some(mut moved) = scratch.eureka.remove(registry)
            && let Some(reg) = self.state.eureka.get_mut(registry)
        {
            if let Some(state) = moved.apps.remove(app) {
                reg.apps.insert(app.clone(), state);
            }
            if whole_list {
                reg.membership = moved.membership;
            }
        }
        out
    }

    /// Every loaded unit that renders entries.
    fn renderers(&self) -> BTreeSet<Unit> {
        self.loaded
            .keys()
            .filter(|u| u.renders() && present(&self.state, u))
            .cloned()
            .collect()
    }

    /// The hosts each rendering unit contributes to, rendering it on its own; the outputs are
    /// kept, as a unit that shares no host renders exactly its hosts' entries this way.
    fn hosts_of(&mut self, config: &ConvertConfig) -> Hosts {
        let mut hosts = Hosts::default();
        let index = reverse_index(self);
        for u in self.renderers() {
            let (entries, rejected) = self.render_alone(&u, &index, config);
            let names = entries
                .iter()
                .map(|e| e.name.clone())
                .chain(rejected.iter().map(|r| rejection_host(r).to_owned()))
                .collect();
            hosts.of.insert(u.clone(), names);
            hosts.outputs.insert(u, (entries, rejected));
        }
        hosts
    }
}

/// Which hosts each rendering unit contributes to, and what it renders on its own.
#[derive(Default)]
struct Hosts {
    of: BTreeMap<Unit, BTreeSet<String>>,
    outputs: BTreeMap<Unit, (Vec<Entry>, Vec<Rejection>)>,
}

impl Hosts {
    /// The entries and rejections of every host: a unit's own output when it shares no host
    /// with another unit (an entry depends only on the units that contribute to its host), and
    /// one rendering of all the units that share hosts.
    fn render(
        &mut self,
        ws: &Workspace<'_>,
        config: &ConvertConfig,
    ) -> Vec<(Vec<Entry>, Vec<Rejection>)> {
        let mut contributors: BTreeMap<&str, usize> = BTreeMap::new();
        for host in self.of.values().flatten() {
            *contributors.entry(host).or_default() += 1;
        }
        let shared: BTreeSet<Unit> = self
            .of
            .iter()
            .filter(|(_, hosts)| hosts.iter().any(|h| contributors[h.as_str()] > 1))
            .map(|(u, _)| u.clone())
            .collect();
        let mut out: Vec<_> = std::mem::take(&mut self.outputs)
            .into_iter()
            .filter(|(u, _)| !shared.contains(u))
            .map(|(_, output)| output)
            .collect();
        if !shared.is_empty() {
            out.push(ws.render_units(&shared, &reverse_index(ws), config));
        }
        out
    }
}

/// The units an event would touch: for Eureka, the applications its parsed document names
/// (and the registry's membership for a whole document); otherwise found by folding the event
/// into an empty state.
fn touched_by(parsed: &Parsed<'_>) -> Vec<Unit> {
    let registry = &parsed.event().registry;
    match parsed.eureka_apps() {
        Some((membership, apps)) => membership
            .then(|| Unit::EurekaRegistry {
                registry: registry.clone(),
            })
            .into_iter()
            .chain(apps.into_iter().map(|app| Unit::EurekaApp {
                registry: registry.clone(),
                app,
            }))
            .collect(),
        None => {
            let mut scratch = RegistryState::default();
            apply_event(&mut scratch, parsed.event());
            Unit::all_in(&scratch).into_iter().collect()
        }
    }
}

/// Plans one attempt: what to write on top of `base` to apply `events`.
pub async fn plan(
    store: &Store,
    base: &Generation,
    events: &[RegistryEvent],
    config: &ConvertConfig,
) -> Result<Plan> {
    let mut ws = Workspace::new(store, base);
    // Each event is parsed once, here, and folded below.
    let parsed: Vec<Parsed> = events.iter().map(Parsed::new).collect();
    // Events of one unit usually come in runs; each run's units are added to the set once.
    let mut touched = BTreeSet::new();
    let mut last = Vec::new();
    for p in &parsed {
        let units = touched_by(p);
        if units != last {
            touched.extend(units.iter().cloned());
            last = units;
        }
    }
    ws.load(touched).await?;
    // A new Eureka application learns from the registry's list whether it is listed.
    let new_app_registries: Vec<Unit> = ws
        .loaded
        .iter()
        .filter_map(|(u, o)| match (u, o) {
            (Unit::EurekaApp { registry, .. }, None) => Some(Unit::EurekaRegistry {
                registry: registry.clone(),
            }),
            _ => None,
        })
        .collect();
    ws.load(new_app_registries).await?;

    let before: BTreeMap<Unit, Option<Slice>> = ws
        .loaded
        .keys()
        .map(|u| (u.clone(), extract(&ws.state, u)))
        .collect();
    let outcomes: Vec<Outcome> = parsed
        .into_iter()
        .map(|p| apply_parsed(&mut ws.state, p, &mut false))
        .collect();
    let moved: BTreeSet<Unit> = before
        .iter()
        .filter(|(u, old)| !unchanged(&ws.state, u, old.as_ref()))
        .map(|(u, _)| u.clone())
        .collect();
    if let Some(stray) = Unit::all_in(&ws.state)
        .into_iter()
        .find(|u| !ws.loaded.contains_key(u))
    {
        return Err(Error::Layout {
            key: stray.key(),
            why: "the batch created a unit that was not loaded first (a regsync bug)".into(),
        });
    }
    if moved.is_empty() {
        return Ok(Plan {
            outcomes,
            ..Plan::default()
        });
    }

    ws.before = before;
    follow_dependencies(&mut ws, &moved).await?;
    let hosts_of = close_over_hosts(&mut ws, config).await?;
    let hosts = hosts_of.of.values().flatten().cloned().collect();
    let changes = write_set(&ws, hosts_of, config);
    Ok(Plan {
        written: changes.len(),
        changes,
        outcomes,
        moved,
        hosts,
    })
}

/// Loads what the moved units affect (step 3 of the module docs).
async fn follow_dependencies(ws: &mut Workspace<'_>, moved: &BTreeSet<Unit>) -> Result<()> {
    for unit in moved {
        match unit {
            Unit::EurekaRegistry { registry } => {
                // Inherent: a whole-registry document speaks for every application in it.
                let prefix = Unit::eureka_apps_of(registry);
                let apps: Vec<Unit> = ws
                    .store
                    .services(ws.base)
                    .await?
                    .into_keys()
                    .filter(|k| k.starts_with(&prefix))
                    .filter_map(|k| Unit::parse(&k))
                    .collect();
                ws.load(apps).await?;
            }
            Unit::DubboInterface { registry, .. } => {
                let (old, new) = mapping_before_and_after(ws, unit);
                let apps = old.union(&new).map(|app| Unit::DubboApplication {
                    registry: registry.clone(),
                    app: app.clone(),
                });
                ws.load(apps.collect::<Vec<_>>()).await?;
            }
            Unit::DubboApplication { registry, app } => {
                let interfaces = ws.mapped_by(registry, app);
                ws.load(
                    interfaces
                        .into_iter()
                        .map(|interface| Unit::DubboInterface {
                            registry: registry.clone(),
                            interface,
                        }),
                )
                .await?;
            }
            Unit::EurekaApp { .. } => {}
        }
    }
    // Every interface rendered needs the applications its mapping names.
    let deps: Vec<Unit> = ws
        .renderers()
        .iter()
        .filter_map(|u| match u {
            Unit::DubboInterface { registry, .. } => Some((registry, extract(&ws.state, u)?)),
            _ => None,
        })
        .flat_map(|(registry, slice)| {
            mapped_apps(&slice)
                .into_iter()
                .map(|app| Unit::DubboApplication {
                    registry: registry.clone(),
                    app,
                })
        })
        .collect();
    ws.load(deps).await
}

/// Adds every unit that shares a host with a loaded one, until none is missing; returns the
/// hosts of each rendering unit.
async fn close_over_hosts(ws: &mut Workspace<'_>, config: &ConvertConfig) -> Result<Hosts> {
    loop {
        let hosts_of = ws.hosts_of(config);
        let mut hosts: BTreeSet<String> = hosts_of.of.values().flatten().cloned().collect();
        for unit in ws.loaded.keys() {
            if let Some(o) = ws.object(unit) {
                hosts.extend(o.hosts.iter().cloned());
            }
        }
        ws.load_entries(&hosts).await?;
        let missing: Vec<Unit> = ws
            .entries
            .values()
            .flatten()
            .flat_map(|(e, _)| e.units.iter())
            .filter_map(|k| Unit::parse(k))
            .filter(|u| !ws.loaded.contains_key(u))
            .collect();
        if missing.is_empty() {
            return Ok(hosts_of);
        }
        ws.load(missing).await?;
        follow_dependencies(ws, &BTreeSet::new()).await?;
    }
}

/// The unit and entry objects whose bytes change.
fn write_set(ws: &Workspace<'_>, mut hosts: Hosts, config: &ConvertConfig) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut buf = Vec::new();
    let mapped_by = reverse_index(ws);
    for (unit, old) in &ws.loaded {
        let Some(object) = unit_object(ws, unit, &hosts.of, &mapped_by) else {
            continue;
        };
        let bytes = encode_into(&mut buf, &object);
        if old.as_ref().map(|(_, b)| b.as_slice()) != Some(bytes) {
            changes.push((unit.key(), Some(bytes.to_vec())));
        }
    }
    let mut by_host: BTreeMap<&str, (Option<Entry>, Vec<Rejection>)> = BTreeMap::new();
    for (entries, rejected) in hosts.render(ws, config) {
        for e in entries {
            if let Some((h, _)) = ws.entries.get_key_value(&e.name) {
                by_host.entry(h.as_str()).or_default().0 = Some(e);
            }
        }
        for r in rejected {
            if let Some((h, _)) = ws.entries.get_key_value(rejection_host(&r)) {
                by_host.entry(h.as_str()).or_default().1.push(r);
            }
        }
    }
    let mut units_of: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (unit, hs) in &hosts.of {
        let key = unit.key();
        for h in hs {
            units_of.entry(h).or_default().insert(key.clone());
        }
    }
    for (host, old) in &ws.entries {
        let units = units_of.remove(host.as_str()).unwrap_or_default();
        let (entry, rejected) = by_host.remove(host.as_str()).unwrap_or_default();
        let new = (!units.is_empty()).then(|| {
            encode_into(
                &mut buf,
                &EntryObject {
                    format: OBJECT_FORMAT,
                    entry,
                    rejected,
                    units,
                },
            )
        });
        if old.as_ref().map(|(_, b)| b.as_slice()) != new {
            changes.push((entry_key(host), new.map(<[u8]>::to_vec)));
        }
    }
    changes
}

/// The applications an interface's mapping named before the batch, and names after it.
fn mapping_before_and_after(
    ws: &Workspace<'_>,
    unit: &Unit,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let old = ws
        .before
        .get(unit)
        .and_then(|s| s.as_ref())
        .map(mapped_apps)
        .unwrap_or_default();
    let new = extract(&ws.state, unit)
        .map(|s| mapped_apps(&s))
        .unwrap_or_default();
    (old, new)
}

/// Interfaces whose mapping names each loaded Dubbo 3 application, after the batch.
fn reverse_index(ws: &Workspace<'_>) -> BTreeMap<Unit, BTreeSet<String>> {
    let mut out: BTreeMap<Unit, BTreeSet<String>> = BTreeMap::new();
    for unit in ws.loaded.keys() {
        if let Unit::DubboApplication { registry, app } = unit {
            out.insert(unit.clone(), ws.mapped_by(registry, app));
        }
    }
    for unit in ws.loaded.keys() {
        let Unit::DubboInterface {
            registry,
            interface,
        } = unit
        else {
            continue;
        };
        let (old, new) = mapping_before_and_after(ws, unit);
        for app in old.union(&new) {
            let key = Unit::DubboApplication {
                registry: registry.clone(),
                app: app.clone(),
            };
            let set = out.entry(key).or_default();
            if new.contains(app) {
                set.insert(interface.clone());
            } else {
                set.remove(interface);
            }
        }
    }
    out
}

/// The object to store for `unit`, borrowed from the workspace; `None` when it holds nothing.
fn unit_object<'a>(
    ws: &'a Workspace<'_>,
    unit: &Unit,
    hosts_of: &'a BTreeMap<Unit, BTreeSet<String>>,
    mapped_by: &'a BTreeMap<Unit, BTreeSet<String>>,
) -> Option<UnitObjectRef<'a>> {
    let slice = match (unit, borrow(&ws.state, unit)) {
        (Unit::EurekaApp { registry, app }, Some(SliceRef::EurekaApp { app: state, .. })) => {
            SliceRef::EurekaApp {
                app: state,
                listing: ws.listing(registry, app),
            }
        }
        (Unit::DubboApplication { .. }, found) => {
            let index = mapped_by.get(unit).unwrap_or(&NO_NAMES);
            let application = match found {
                Some(SliceRef::DubboApplication { application, .. }) => application,
                _ if index.is_empty() => return None,
                _ => &NO_APPLICATION,
            };
            SliceRef::DubboApplication {
                application,
                mapped_by: index,
            }
        }
        (_, found) => found?,
    };
    Some(UnitObjectRef {
        format: OBJECT_FORMAT,
        slice,
        hosts: hosts_of.get(unit).unwrap_or(&NO_NAMES),
    })
}
