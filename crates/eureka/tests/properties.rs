//! Properties: every way a server may write an instance reads back as the same instance, and
//! no input makes the parser panic.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::sample::select;
use regsync_eureka::{
    parse, parse_json_fast, parse_json_slow, parse_json_str, parse_json_value, parse_xml,
};
use regsync_model::eureka::{ActionType, EurekaDocument, EurekaInstance, InstanceStatus};
use serde_json::{Map, Value, json};

const STATUSES: [InstanceStatus; 5] = [
    InstanceStatus::Up,
    InstanceStatus::Down,
    InstanceStatus::Starting,
    InstanceStatus::OutOfService,
    InstanceStatus::Unknown,
];

fn wire_status(s: InstanceStatus) -> &'static str {
    match s {
        InstanceStatus::Up => "UP",
        InstanceStatus::Down => "DOWN",
        InstanceStatus::Starting => "STARTING",
        InstanceStatus::OutOfService => "OUT_OF_SERVICE",
        InstanceStatus::Unknown => "UNKNOWN",
    }
}

fn wire_action(a: ActionType) -> &'static str {
    match a {
        ActionType::Added => "ADDED",
        ActionType::Modified => "MODIFIED",
        ActionType::Deleted => "DELETED",
    }
}

/// A port as written: its number and whether `@enabled` says true.
#[derive(Debug, Clone, Copy)]
struct WirePort {
    number: u16,
    enabled: bool,
}

impl WirePort {
    fn expected(self) -> Option<u16> {
        self.enabled.then_some(self.number)
    }
}

/// How the server chose to write things.
#[derive(Debug, Clone)]
struct Style {
    port_as_string: bool,
    enabled_as_bool: bool,
    legacy_overridden: bool,
    omit_unknown_overridden: bool,
    timestamps_as_strings: bool,
    class_in_metadata: bool,
}

#[derive(Debug, Clone)]
struct Case {
    app: String,
    instance_id: String,
    host_name: String,
    ip_addr: String,
    status: InstanceStatus,
    overridden: InstanceStatus,
    port: Option<WirePort>,
    secure_port: Option<WirePort>,
    metadata: BTreeMap<String, String>,
    /// The zone and whether it sits in `dataCenterInfo` (else in metadata `zone`).
    zone: Option<(String, bool)>,
    action: Option<ActionType>,
    last_updated: u64,
    last_dirty: u64,
    registered: u64,
    style: Style,
}

fn wire_port() -> impl Strategy<Value = Option<WirePort>> {
    prop_oneof![
        Just(None),
        (1u16..=65535).prop_map(|number| Some(WirePort {
            number,
            enabled: true
        })),
        // A disabled port's number is never checked against the range.
        any::<u16>().prop_map(|number| Some(WirePort {
            number,
            enabled: false
        })),
    ]
}

fn style() -> impl Strategy<Value = Style> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(a, b, c, d, e, f)| Style {
            port_as_string: a,
            enabled_as_bool: b,
            legacy_overridden: c,
            omit_unknown_overridden: d,
            timestamps_as_strings: e,
            class_in_metadata: f,
        })
}

const MAX_MS: u64 = 4_102_444_800_000; // 2100-01-01

prop_compose! {
    fn case()(
        app in "[A-Z][A-Z0-9_.-]{0,11}",
        instance_id in "[a-z0-9][a-z0-9.:-]{0,20}",
        host_name in "[a-z][a-z0-9.-]{0,15}",
        ip_addr in prop_oneof![Just(String::new()), "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}"],
        status in select(&STATUSES[..]),
        overridden in select(&STATUSES[..]),
        port in wire_port(),
        secure_port in wire_port(),
        metadata in prop::collection::btree_map("[a-z]{1,6}\\.[a-z]{1,6}", "[a-zA-Z0-9:/._&<>-]{0,12}", 0..4),
        zone in prop::option::of(("[a-z]{2}-[a-z]{4}-[1-3][a-c]", any::<bool>())),
        action in prop::option::of(select(&[ActionType::Added, ActionType::Modified, ActionType::Deleted][..])),
        last_updated in 0..MAX_MS,
        last_dirty in 0..MAX_MS,
        registered in 0..MAX_MS,
        style in style(),
    ) -> Case {
        Case { app, instance_id, host_name, ip_addr, status, overridden, port, secure_port, metadata,
               zone, action, last_updated, last_dirty, registered, style }
    }
}

impl Case {
    fn expected(&self) -> EurekaInstance {
        let mut metadata = self.metadata.clone();
        if let Some((zone, false)) = &self.zone {
            metadata.insert("zone".into(), zone.clone());
        }
        EurekaInstance {
            app: self.app.clone(),
            instance_id: self.instance_id.clone(),
            host_name: self.host_name.clone(),
            ip_addr: self.ip_addr.clone(),
            status: self.status,
            overridden_status: self.overridden,
            port: self.port.and_then(WirePort::expected),
            secure_port: self.secure_port.and_then(WirePort::expected),
            metadata,
            availability_zone: self.zone.as_ref().map(|(z, _)| z.clone()),
            action_type: self.action,
            last_updated_timestamp: self.last_updated,
            last_dirty_timestamp: self.last_dirty,
            registration_timestamp: self.registered,
        }
    }

    fn timestamp(&self, ms: u64) -> Value {
        if self.style.timestamps_as_strings {
            Value::from(ms.to_string())
        } else {
            Value::from(ms)
        }
    }

    fn json_port(&self, p: WirePort) -> Value {
        let number = if self.style.port_as_string {
            json!(p.number.to_string())
        } else {
            json!(p.number)
        };
        let enabled = if self.style.enabled_as_bool {
            json!(p.enabled)
        } else {
            json!(p.enabled.to_string())
        };
        json!({"$": number, "@enabled": enabled})
    }

    fn json(&self) -> Value {
        let mut o = Map::new();
        o.insert("instanceId".into(), json!(self.instance_id));
        o.insert("hostName".into(), json!(self.host_name));
        o.insert("app".into(), json!(self.app));
        o.insert("ipAddr".into(), json!(self.ip_addr));
        o.insert("status".into(), json!(wire_status(self.status)));
        if !(self.overridden == InstanceStatus::Unknown && self.style.omit_unknown_overridden) {
            let key = if self.style.legacy_overridden {
                "overriddenstatus"
            } else {
                "overriddenStatus"
            };
            o.insert(key.into(), json!(wire_status(self.overridden)));
        }
        if let Some(p) = self.port {
            o.insert("port".into(), self.json_port(p));
        }
        if let Some(p) = self.secure_port {
            o.insert("securePort".into(), self.json_port(p));
        }
        let mut dc = json!({"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"});
        let mut metadata: Map<String, Value> = self
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        if self.style.class_in_metadata {
            metadata.insert("@class".into(), json!("java.util.LinkedHashMap"));
        }
        match &self.zone {
            Some((zone, true)) => dc["metadata"] = json!({"availability-zone": zone}),
            Some((zone, false)) => {
                metadata.insert("zone".into(), json!(zone));
            }
            None => {}
        }
        o.insert("dataCenterInfo".into(), dc);
        o.insert("leaseInfo".into(), json!({"renewalIntervalInSecs": 30, "registrationTimestamp": self.timestamp(self.registered)}));
        o.insert("metadata".into(), Value::Object(metadata));
        o.insert("isCoordinatingDiscoveryServer".into(), json!("false"));
        o.insert(
            "lastUpdatedTimestamp".into(),
            self.timestamp(self.last_updated),
        );
        o.insert("lastDirtyTimestamp".into(), self.timestamp(self.last_dirty));
        if let Some(a) = self.action {
            o.insert("actionType".into(), json!(wire_action(a)));
        }
        Value::Object(o)
    }

    fn xml(&self) -> String {
        let mut x = String::from("<instance>");
        let mut elem =
            |name: &str, text: &str| x.push_str(&format!("<{name}>{}</{name}>", escape(text)));
        elem("instanceId", &self.instance_id);
        elem("hostName", &self.host_name);
        elem("app", &self.app);
        elem("ipAddr", &self.ip_addr);
        elem("status", wire_status(self.status));
        if !(self.overridden == InstanceStatus::Unknown && self.style.omit_unknown_overridden) {
            elem("overriddenstatus", wire_status(self.overridden));
        }
        elem("lastUpdatedTimestamp", &self.last_updated.to_string());
        elem("lastDirtyTimestamp", &self.last_dirty.to_string());
        if let Some(a) = self.action {
            elem("actionType", wire_action(a));
        }
        for (name, port) in [("port", self.port), ("securePort", self.secure_port)] {
            if let Some(p) = port {
                x.push_str(&format!(
                    "<{name} enabled=\"{}\">{}</{name}>",
                    p.enabled, p.number
                ));
            }
        }
        x.push_str("<dataCenterInfo class=\"com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo\"><name>MyOwn</name>");
        if let Some((zone, true)) = &self.zone {
            x.push_str(&format!(
                "<metadata><availability-zone>{zone}</availability-zone></metadata>"
            ));
        }
        x.push_str("</dataCenterInfo>");
        x.push_str(&format!(
            "<leaseInfo><registrationTimestamp>{}</registrationTimestamp></leaseInfo>",
            self.registered
        ));
        x.push_str(if self.style.class_in_metadata {
            "<metadata class=\"java.util.LinkedHashMap\">"
        } else {
            "<metadata>"
        });
        for (k, v) in &self.metadata {
            x.push_str(&format!("<{k}>{}</{k}>", escape(v)));
        }
        if let Some((zone, false)) = &self.zone {
            x.push_str(&format!("<zone>{zone}</zone>"));
        }
        x.push_str("</metadata></instance>");
        x
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The only instance of a document, whatever its shape.
fn sole_instance(doc: EurekaDocument) -> EurekaInstance {
    let mut all: Vec<EurekaInstance> = match doc {
        EurekaDocument::Instance(i) => vec![i],
        EurekaDocument::Application(a) => a.instances,
        EurekaDocument::Applications { applications, .. } => {
            applications.into_iter().flat_map(|a| a.instances).collect()
        }
    };
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

proptest! {
    #[test]
    fn every_shape_of_an_instance_reads_as_the_same_instance(c in case()) {
        let expected = c.expected();
        let inst = c.json();
        let app = |instance: Value| json!({"name": c.app, "instance": instance});
        let json_shapes = [
            json!({"applications": {"versions__delta": "1", "apps__hashcode": "UP_1_", "application": [app(json!([inst]))]}}),
            json!({"applications": {"versions__delta": 1, "application": app(inst.clone())}}),
            json!({"application": app(json!([inst]))}),
            json!({"application": app(inst.clone())}),
            json!({"instance": inst}),
            inst.clone(),
        ];
        for shape in &json_shapes {
            let doc = parse_json_value(shape).map_err(|e| TestCaseError::fail(format!("{e}\n{shape}")))?;
            prop_assert_eq!(&sole_instance(doc), &expected, "{}", shape);
            let bytes = serde_json::to_vec_pretty(shape).unwrap();
            prop_assert_eq!(sole_instance(parse(&bytes).unwrap()), expected.clone());
            // The typed path reads every wrapped shape, and reads it as the `Value` path does;
            // the bare InstanceInfo is left to the `Value` path.
            let slow = parse_json_slow(&bytes).unwrap();
            let fast = parse_json_fast(&bytes);
            if shape.get("app").is_some() {
                prop_assert_eq!(fast, None, "{}", shape);
            } else {
                prop_assert_eq!(fast.as_ref(), Some(&slow), "{}", shape);
            }
            prop_assert_eq!(parse_json_str(std::str::from_utf8(&bytes).unwrap()).unwrap(), slow);
        }
        let xml = c.xml();
        let xml_shapes = [
            format!("<applications><versions__delta>1</versions__delta><application><name>{}</name>{xml}</application></applications>", c.app),
            format!("<application><name>{}</name>{xml}</application>", c.app),
            xml.clone(),
        ];
        for shape in &xml_shapes {
            let doc = parse_xml(shape).map_err(|e| TestCaseError::fail(format!("{e}\n{shape}")))?;
            prop_assert_eq!(&sole_instance(doc), &expected, "{}", shape);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&bytes);
    }

    #[test]
    fn arbitrary_eureka_like_text_never_panics(text in "[{}\\[\\]<>/\":, $@a-zA-Z0-9_.=-]{0,300}") {
        let _ = parse(text.as_bytes());
        let _ = parse_xml(&text);
    }

    #[test]
    fn any_prefix_of_a_real_document_never_panics(cut in 0usize..2100) {
        let full = include_bytes!("../../../events/recordings/eureka/karyon-xml/001-apps-one-app.xml");
        let json = include_bytes!("../../../events/recordings/eureka/two-apps-mixed-shapes/002-apps-two-apps.json");
        let _ = parse(&full[..cut.min(full.len())]);
        let _ = parse(&json[..cut.min(json.len())]);
    }
}
