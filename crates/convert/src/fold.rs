//! Folding events into [`RegistryState`]. Pure: the same events, in any order, once or twice,
//! give the same state (see `regsync_model::state`).

use std::collections::BTreeSet;

use regsync_model::eureka::{ActionType, EurekaApplication, EurekaDocument, EurekaInstance};
use regsync_model::event::{EventData, type_name};
use regsync_model::state::{EurekaAppState, RawInstance, merge, merge_into, min_into};
use regsync_model::{Error, EventType, RegistryEvent, RegistryState, Result, Versioned};
use serde_json::Value;

use crate::naming::eureka_app_problem;
use crate::time::creation_time;

/// What one event did to the state.
#[derive(Debug)]
pub enum Outcome {
    /// At least one piece of state moved forward.
    Applied,
    /// Everything it said was already known, or older than what is known.
    Stale,
    /// It can never be applied: the reason names the field.
    Rejected(Error),
}

impl Outcome {
    /// A bounded label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Stale => "stale",
            Outcome::Rejected(_) => "rejected",
        }
    }
}

/// Applies one event to `state`.
pub fn apply_event(state: &mut RegistryState, event: &RegistryEvent) -> Outcome {
    apply_event_tracked(state, event, &mut false)
}

/// [`apply_event`], also setting `seen_moved` when the event lowered a first-seen time (which
/// changes the state even when the event is otherwise stale).
pub fn apply_event_tracked(
    state: &mut RegistryState,
    event: &RegistryEvent,
    seen_moved: &mut bool,
) -> Outcome {
    apply_parsed(state, Parsed::new(event), seen_moved)
}

/// An event with its Eureka payload parsed, so that a caller can learn what it is about and
/// then fold it without parsing it again. ZooKeeper payloads are small and read by the fold.
#[derive(Debug)]
pub struct Parsed<'a> {
    event: &'a RegistryEvent,
    payload: Payload,
}

/// What the fold does with an event's data.
#[derive(Debug)]
enum Payload {
    /// A Eureka document, parsed (or why it does not parse).
    Eureka(Result<EurekaDocument>),
    /// A ZooKeeper providers or configurators list.
    ZkList,
    /// A Dubbo 3 application's instances.
    ZkInstances,
    /// A Dubbo 3 interface-to-application mapping.
    ZkMapping,
}

impl<'a> Parsed<'a> {
    /// Parses the payload of `event` when it is a Eureka document.
    pub fn new(event: &'a RegistryEvent) -> Self {
        let payload = match event.event_type {
            EventType::EurekaInstance
            | EventType::EurekaApplication
            | EventType::EurekaApplications
            | EventType::EurekaDelta => Payload::Eureka(
                match &event.data {
                    EventData::Json(raw) => regsync_eureka::parse_json_str(raw.get()),
                    EventData::Text(t) if event.is_json() => regsync_eureka::parse_json_str(t),
                    EventData::Text(t) => regsync_eureka::parse_xml(t),
                }
                .map_err(|e| e.nested_in("/data")),
            ),
            EventType::ZookeeperProviders | EventType::ZookeeperConfigurators => Payload::ZkList,
            EventType::ZookeeperInstances => Payload::ZkInstances,
            EventType::ZookeeperMapping => Payload::ZkMapping,
        };
        Self { event, payload }
    }

    /// The event.
    pub fn event(&self) -> &'a RegistryEvent {
        self.event
    }

    /// For a Eureka event, what folding it can create: whether it sets the registry's
    /// membership (a whole `/eureka/apps` document), and the applications it names, as state
    /// keys. Empty for a payload that does not parse (the fold rejects it and creates nothing).
    /// `None` for other registries.
    pub fn eureka_apps(&self) -> Option<(bool, BTreeSet<String>)> {
        let doc = match &self.payload {
            Payload::Eureka(Ok(doc)) => doc,
            Payload::Eureka(Err(_)) => return Some((false, BTreeSet::new())),
            _ => return None,
        };
        let mut apps = BTreeSet::new();
        let membership = match doc {
            EurekaDocument::Instance(inst) => {
                apps.insert(app_key(&inst.app));
                false
            }
            EurekaDocument::Application(app) => {
                apps.insert(app_key(&app.name));
                apps.extend(app.instances.iter().map(|i| app_key(&i.app)));
                false
            }
            EurekaDocument::Applications { applications, .. } => {
                for app in applications {
                    apps.insert(app_key(&app.name));
                    apps.extend(app.instances.iter().map(|i| app_key(&i.app)));
                }
                self.event.event_type == EventType::EurekaApplications
            }
        };
        Some((membership, apps))
    }
}

/// Folds an event parsed by [`Parsed::new`] into `state`; see [`apply_event_tracked`].
pub fn apply_parsed(
    state: &mut RegistryState,
    parsed: Parsed<'_>,
    seen_moved: &mut bool,
) -> Outcome {
    match try_apply(state, parsed, seen_moved) {
        Ok(true) => Outcome::Applied,
        Ok(false) => Outcome::Stale,
        Err(e) => Outcome::Rejected(e),
    }
}

fn try_apply(state: &mut RegistryState, parsed: Parsed<'_>, seen: &mut bool) -> Result<bool> {
    let event = parsed.event;
    match parsed.payload {
        Payload::Eureka(doc) => apply_eureka(state, event, doc?, seen),
        Payload::ZkList => apply_zk_list(state, event, seen),
        Payload::ZkInstances => apply_zk_instances(state, event, seen),
        Payload::ZkMapping => apply_zk_mapping(state, event),
    }
}

fn action_rank(action: Option<ActionType>) -> u8 {
    match action {
        None | Some(ActionType::Added) => 0,
        Some(ActionType::Modified) => 1,
        Some(ActionType::Deleted) => 2,
    }
}

/// Eureka app names are case-insensitive; the server reports them upper case.
fn app_key(name: &str) -> String {
    name.to_ascii_uppercase()
}

/// The state of application `name`, created if new; looks up without allocating when the name
/// is already upper case, as servers send it.
fn app_entry<'a>(
    apps: &'a mut std::collections::BTreeMap<String, EurekaAppState>,
    name: &str,
) -> &'a mut EurekaAppState {
    if name.bytes().any(|b| b.is_ascii_lowercase()) {
        return apps.entry(app_key(name)).or_default();
    }
    if !apps.contains_key(name) {
        apps.insert(name.to_owned(), EurekaAppState::default());
    }
    apps.get_mut(name).expect("inserted above when missing")
}

/// Everything that can make a Eureka event unusable, checked before any state is touched, so a
/// rejected event leaves no trace.
fn check_eureka(event: &RegistryEvent, doc: &EurekaDocument) -> Result<()> {
    let expect_subject = |app: &str| -> Result<()> {
        match &event.subject {
            Some(s) if !s.eq_ignore_ascii_case(app) => Err(Error::invalid(
                "subject",
                "/subject",
                format!("must name the application in data ({app})"),
                s,
            )),
            _ => Ok(()),
        }
    };
    let same_app = |app: &EurekaApplication, pointer: &str| -> Result<()> {
        match app
            .instances
            .iter()
            .position(|i| !i.app.eq_ignore_ascii_case(&app.name))
        {
            Some(n) => Err(Error::invalid(
                "app",
                format!("{pointer}/{n}/app"),
                format!("instance of another application than {}", app.name),
                &app.instances[n].app,
            )),
            None => Ok(()),
        }
    };
    match (event.event_type, doc) {
        (EventType::EurekaInstance, EurekaDocument::Instance(inst)) => expect_subject(&inst.app),
        (EventType::EurekaApplication, EurekaDocument::Application(app)) => {
            expect_subject(&app.name)?;
            same_app(app, "/data/application/instance")
        }
        (EventType::EurekaApplications, EurekaDocument::Applications { applications, .. }) => {
            for (n, app) in applications.iter().enumerate() {
                same_app(app, &format!("/data/applications/application/{n}/instance"))?;
            }
            Ok(())
        }
        (EventType::EurekaDelta, EurekaDocument::Applications { .. }) => Ok(()),
        (ty, doc) => {
            let got = match doc {
                EurekaDocument::Instance(_) => "an instance",
                EurekaDocument::Application(_) => "an application",
                EurekaDocument::Applications { .. } => "an applications document",
            };
            Err(Error::invalid(
                "data",
                "/data",
                format!("{ty} needs a different Eureka document"),
                got,
            ))
        }
    }
}

/// Refuses a document naming an application that cannot become a host ([`eureka_app_problem`]),
/// naming the field and the name.
fn check_app_names(doc: &EurekaDocument) -> Result<()> {
    match doc {
        EurekaDocument::Instance(inst) => {
            check_app_name(&inst.app, "app", || "/data/instance/app".into())
        }
        EurekaDocument::Application(app) => check_application_names(app, "/data/application"),
        EurekaDocument::Applications { applications, .. } => {
            for (n, app) in applications.iter().enumerate() {
                check_application_names(app, &format!("/data/applications/application/{n}"))?;
            }
            Ok(())
        }
    }
}

/// [`check_app_names`] for the application at JSON pointer `at` and its instances.
fn check_application_names(app: &EurekaApplication, at: &str) -> Result<()> {
    check_app_name(&app.name, "name", || format!("{at}/name"))?;
    for (n, inst) in app.instances.iter().enumerate() {
        check_app_name(&inst.app, "app", || format!("{at}/instance/{n}/app"))?;
    }
    Ok(())
}

/// Application name `name`, read from `field` at `pointer` (built only for an error).
fn check_app_name(name: &str, field: &str, pointer: impl FnOnce() -> String) -> Result<()> {
    match eureka_app_problem(name) {
        Some(why) => Err(Error::invalid(field, pointer(), why, format!("{name:?}"))),
        None => Ok(()),
    }
}

fn apply_eureka(
    state: &mut RegistryState,
    event: &RegistryEvent,
    doc: EurekaDocument,
    seen: &mut bool,
) -> Result<bool> {
    check_eureka(event, &doc)?;
    check_app_names(&doc)?;
    // A whole document is at least as new as the newest instance in it.
    let doc_version = event
        .source_version
        .max(regsync_eureka::max_last_updated(&doc));
    let registry = state.eureka.entry(event.registry.clone()).or_default();
    let mut changed = false;
    let mut record = |registry: &mut regsync_model::state::EurekaRegistry, inst: EurekaInstance| {
        let app = app_entry(&mut registry.apps, &inst.app);
        // A time no protobuf Timestamp holds is never a creation time (`crate::time`).
        let first = creation_time(inst.registration_timestamp)
            .or_else(|| creation_time(inst.last_updated_timestamp));
        if let Some(first) = first {
            *seen |= min_into(&mut app.first_seen_ms, first);
        }
        // An instance without lastUpdatedTimestamp (old or hand-made payloads) is as new as
        // the event that carried it.
        let major = match inst.last_updated_timestamp {
            0 => event.source_version,
            t => t,
        };
        let (minor, rank) = (inst.last_dirty_timestamp, action_rank(inst.action_type));
        if let Some(current) = app.instances.get_mut(&inst.instance_id) {
            let value = (inst.action_type != Some(ActionType::Deleted)).then_some(inst);
            return merge(current, Versioned::new(major, minor, rank, value));
        }
        let id = inst.instance_id.clone();
        let value = (inst.action_type != Some(ActionType::Deleted)).then_some(inst);
        app.instances
            .insert(id, Versioned::new(major, minor, rank, value));
        true
    };
    let whole_app = |registry: &mut regsync_model::state::EurekaRegistry,
                     app: &EurekaApplication| {
        let ids: BTreeSet<String> = app
            .instances
            .iter()
            .map(|i| i.instance_id.clone())
            .collect();
        let state = app_entry(&mut registry.apps, &app.name);
        merge_into(
            &mut state.membership,
            Versioned::new(doc_version, 0, 0, ids),
        )
    };
    match doc {
        EurekaDocument::Instance(inst) => changed |= record(registry, inst),
        EurekaDocument::Application(app) => {
            changed |= whole_app(registry, &app);
            for inst in app.instances {
                changed |= record(registry, inst);
            }
        }
        EurekaDocument::Applications { applications, .. }
            if event.event_type == EventType::EurekaApplications =>
        {
            let names: BTreeSet<String> = applications.iter().map(|a| app_key(&a.name)).collect();
            changed |= merge_into(
                &mut registry.membership,
                Versioned::new(doc_version, 0, 0, names),
            );
            for app in applications {
                changed |= whole_app(registry, &app);
                for inst in app.instances {
                    changed |= record(registry, inst);
                }
            }
        }
        // A delta: per-instance changes only.
        EurekaDocument::Applications { applications, .. } => {
            for inst in applications.into_iter().flat_map(|a| a.instances) {
                changed |= record(registry, inst);
            }
        }
    }
    Ok(changed)
}

/// `field` of the object at `ptr` has the wrong type or value.
fn wrong(field: &str, ptr: &str, what: &str, got: &Value) -> Error {
    Error::invalid(field, format!("{ptr}/{field}"), what, type_name(got))
}

/// The state of `interface` in `registry`, created if new.
fn interface_state<'a>(
    state: &'a mut RegistryState,
    registry: &str,
    interface: String,
) -> &'a mut regsync_model::state::DubboInterfaceState {
    state
        .dubbo
        .entry(registry.to_owned())
        .or_default()
        .interfaces
        .entry(interface)
        .or_default()
}

fn data_object(event: &RegistryEvent) -> Result<serde_json::Map<String, Value>> {
    let text = match &event.data {
        EventData::Json(raw) => raw.get(),
        EventData::Text(t) if event.is_json() => t.as_str(),
        EventData::Text(_) => {
            return Err(Error::invalid(
                "datacontenttype",
                "/datacontenttype",
                "ZooKeeper events carry JSON data",
                &event.data_content_type,
            ));
        }
    };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(other) => Err(Error::invalid(
            "data",
            "/data",
            "must be a JSON object",
            type_name(&other),
        )),
        Err(e) => Err(Error::json(&e).nested_in("/data")),
    }
}

fn str_field<'a>(obj: &'a serde_json::Map<String, Value>, field: &str) -> Result<&'a str> {
    match obj.get(field) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(Error::invalid(
            field,
            format!("/data/{field}"),
            "must be a string",
            type_name(other),
        )),
        None => Err(Error::missing(field, "/data")),
    }
}

/// Checks the znode version in `data` against `sourceversion`, when present.
fn check_zxid(
    obj: &serde_json::Map<String, Value>,
    field: &str,
    event: &RegistryEvent,
) -> Result<()> {
    match obj.get(field) {
        None => Ok(()),
        Some(Value::Number(n)) if n.as_u64() == Some(event.source_version) => Ok(()),
        Some(Value::Number(n)) if n.as_u64().is_some() => Err(Error::invalid(
            field,
            format!("/data/{field}"),
            format!("must equal sourceversion {}", event.source_version),
            n,
        )),
        Some(other) => Err(Error::invalid(
            field,
            format!("/data/{field}"),
            "must be a non-negative integer",
            type_name(other),
        )),
    }
}

/// Splits `<root>/<name>/<leaf>` (or `<root>/<leaf>/<name>` when `name_last`) and checks the name
/// against the subject.
fn path_name<'a>(
    path: &'a str,
    event: &RegistryEvent,
    leaf: &str,
    name_last: bool,
) -> Result<&'a str> {
    let parts: Vec<&str> = path.trim_end_matches('/').rsplitn(3, '/').collect();
    let name = match (parts.as_slice(), name_last) {
        ([l, n, _], false) if *l == leaf => Some(*n),
        ([n, l, _], true) if *l == leaf => Some(*n),
        _ => None,
    };
    let expected = if name_last {
        format!("…/{leaf}/<name>")
    } else {
        format!("<root>/<name>/{leaf}")
    };
    let name = name.filter(|n| !n.is_empty()).ok_or_else(|| {
        Error::invalid(
            "path",
            "/data/path",
            format!("must look like {expected}"),
            path,
        )
    })?;
    match &event.subject {
        Some(s) if s != name => Err(Error::invalid(
            "subject",
            "/subject",
            format!("must equal the name in data.path ({name})"),
            s,
        )),
        _ => Ok(name),
    }
}

fn string_list(obj: &serde_json::Map<String, Value>, field: &str) -> Result<Vec<String>> {
    let Some(v) = obj.get(field) else {
        return Err(Error::missing(field, "/data"));
    };
    let Value::Array(items) = v else {
        return Err(Error::invalid(
            field,
            format!("/data/{field}"),
            "must be an array of strings",
            type_name(v),
        ));
    };
    let mut out = items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(s) => Ok(s.clone()),
            other => Err(Error::invalid(
                field,
                format!("/data/{field}/{i}"),
                "must be a string",
                type_name(other),
            )),
        })
        .collect::<Result<Vec<_>>>()?;
    out.sort();
    out.dedup();
    Ok(out)
}

fn apply_zk_list(
    state: &mut RegistryState,
    event: &RegistryEvent,
    seen: &mut bool,
) -> Result<bool> {
    let obj = &data_object(event)?;
    let leaf = if event.event_type == EventType::ZookeeperProviders {
        "providers"
    } else {
        "configurators"
    };
    let path = str_field(obj, "path")?;
    let interface = path_name(path, event, leaf, false)?.to_owned();
    check_zxid(obj, "pzxid", event)?;
    let children = string_list(obj, "children")?;
    let iface = interface_state(state, &event.registry, interface);
    if leaf == "providers" {
        for child in &children {
            if let Some(ts) = regsync_dubbo::DubboUrl::from_znode(child)
                .ok()
                .and_then(|u| {
                    u.params
                        .get("timestamp")
                        .and_then(|t| t.parse::<u64>().ok())
                        .and_then(creation_time)
                })
            {
                *seen |= min_into(&mut iface.first_seen_ms, ts);
            }
        }
        Ok(merge_into(
            &mut iface.providers,
            Versioned::new(event.source_version, 0, 0, children),
        ))
    } else {
        Ok(merge_into(
            &mut iface.configurators,
            Versioned::new(event.source_version, 0, 0, children),
        ))
    }
}

fn apply_zk_instances(
    state: &mut RegistryState,
    event: &RegistryEvent,
    seen: &mut bool,
) -> Result<bool> {
    let obj = &data_object(event)?;
    let path = str_field(obj, "path")?;
    let app = path_name(path, event, "services", true)?.to_owned();
    check_zxid(obj, "pzxid", event)?;
    let Some(Value::Array(children)) = obj.get("children") else {
        return Err(match obj.get("children") {
            None => Error::missing("children", "/data"),
            Some(other) => Error::invalid(
                "children",
                "/data/children",
                "must be an array of {name, data}",
                type_name(other),
            ),
        });
    };
    let mut raw = Vec::with_capacity(children.len());
    let mut first_seen = None;
    // A child's data can change (Curator updateService) without moving the parent's pzxid; the
    // newest child mzxid orders such states.
    let mut newest_child = 0u64;
    for (i, child) in children.iter().enumerate() {
        let ptr = format!("/data/children/{i}");
        let Value::Object(c) = child else {
            return Err(Error::invalid(
                "children",
                ptr,
                "must be an object {name, data}",
                type_name(child),
            ));
        };
        let name = match c.get("name") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(other) => return Err(wrong("name", &ptr, "must be a non-empty string", other)),
            None => return Err(Error::missing("name", ptr)),
        };
        let data = match c.get("data") {
            Some(Value::String(s)) => s.clone(),
            Some(v @ Value::Object(_)) => v.to_string(),
            Some(other) => {
                return Err(wrong(
                    "data",
                    &ptr,
                    "must be the znode's JSON (object or string)",
                    other,
                ));
            }
            None => return Err(Error::missing("data", ptr)),
        };
        match c.get("mzxid") {
            None => {}
            Some(Value::Number(n)) if n.as_u64().is_some() => {
                newest_child = newest_child.max(n.as_u64().unwrap_or_default());
            }
            Some(other) => {
                return Err(wrong(
                    "mzxid",
                    &ptr,
                    "must be a non-negative integer",
                    other,
                ));
            }
        }
        let parsed = regsync_dubbo::AppInstance::parse(&name, &data)
            .map_err(|e| e.nested_in(&format!("{ptr}/data")))?;
        if let Some(ts) = parsed.registration_time_ms.and_then(creation_time) {
            first_seen = Some(first_seen.map_or(ts, |f: u64| f.min(ts)));
        }
        raw.push(RawInstance { name, data });
    }
    raw.sort();
    raw.dedup_by(|a, b| a.name == b.name);
    let slot = state
        .dubbo
        .entry(event.registry.clone())
        .or_default()
        .applications
        .entry(app)
        .or_default();
    if let Some(ts) = first_seen {
        *seen |= min_into(&mut slot.first_seen_ms, ts);
    }
    Ok(merge_into(
        &mut slot.instances,
        Versioned::new(event.source_version, newest_child, 0, raw),
    ))
}

fn apply_zk_mapping(state: &mut RegistryState, event: &RegistryEvent) -> Result<bool> {
    let obj = &data_object(event)?;
    let path = str_field(obj, "path")?;
    let interface = path_name(path, event, "mapping", true)?.to_owned();
    check_zxid(obj, "mzxid", event)?;
    let apps = regsync_dubbo::parse_mapping(str_field(obj, "data")?);
    let iface = interface_state(state, &event.registry, interface);
    Ok(merge_into(
        &mut iface.mapping,
        Versioned::new(event.source_version, 0, 0, apps),
    ))
}
