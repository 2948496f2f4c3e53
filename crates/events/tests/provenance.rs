//! The CloudEvent recordings carry the raw fixtures unchanged, except where events/README.md
//! says what was derived and how.

// Helpers here are test code too; clippy.toml allows unwrap in tests but cannot see them.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

fn recordings() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/recordings")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(recordings().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn json(rel: &str) -> Value {
    serde_json::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn data(rel: &str) -> Value {
    json(rel)["data"].clone()
}

/// Java's `URLEncoder.encode(s, "UTF-8")`, which Dubbo's `URL.encode` calls.
fn java_url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn eureka_events_carry_the_raw_payloads_unchanged() {
    let pairs = [
        (
            "steeltoe-add-then-modify/001-applications.json",
            "steeltoe-add-then-modify/001-apps.json",
        ),
        (
            "steeltoe-add-then-modify/002-delta.json",
            "steeltoe-add-then-modify/002-delta.json",
        ),
        (
            "single-app/001-application.json",
            "single-app/001-application.json",
        ),
        (
            "spring-cloud-jackson/001-applications.json",
            "spring-cloud-jackson/001-apps.json",
        ),
        (
            "istio-pilot-testdata/001-applications.json",
            "istio-pilot-testdata/001-apps.json",
        ),
        (
            "legacy-xstream-single-object/001-applications-pre-1.2.2.json",
            "legacy-xstream-single-object/001-apps-pre-1.2.2.json",
        ),
        (
            "legacy-xstream-single-object/002-applications-post-1.2.2.json",
            "legacy-xstream-single-object/002-apps-post-1.2.2.json",
        ),
        (
            "two-apps-mixed-shapes/001-applications-one-app-two-instances.json",
            "two-apps-mixed-shapes/001-apps-one-app-two-instances.json",
        ),
        (
            "two-apps-mixed-shapes/002-applications-two-apps.json",
            "two-apps-mixed-shapes/002-apps-two-apps.json",
        ),
    ];
    for (event, raw) in pairs {
        assert_eq!(
            data(&format!("eureka-events/{event}")),
            json(&format!("eureka/{raw}")),
            "{event}"
        );
    }
    let xml = json("eureka-events/karyon-xml/001-applications-two-apps.json");
    assert_eq!(xml["datacontenttype"], "application/xml");
    assert_eq!(
        xml["data"],
        read("eureka/karyon-xml/002-apps-two-apps.xml").as_str()
    );
}

/// The live recording (`scripts/record-eureka.sh`): each event's data is the server's answer
/// and its version the recorded fetch time, which is never before the newest instance update.
#[test]
fn the_live_spring_cloud_recording_carries_each_answer_at_its_fetch_time() {
    let times: std::collections::BTreeMap<String, String> =
        std::fs::read_to_string(recordings().join("../fetch-times/spring-cloud-netflix-5.txt"))
            .unwrap()
            .lines()
            .map(|l| {
                let (file, ms) = l.split_once(' ').unwrap();
                (file.to_owned(), ms.to_owned())
            })
            .collect();
    let pairs = [
        ("001-applications.json", "001-apps.json"),
        ("002-delta-added.json", "002-delta-added.json"),
        (
            "003-delta-out-of-service.json",
            "003-delta-out-of-service.json",
        ),
        ("004-delta-back-up.json", "004-delta-back-up.json"),
        ("005-delta-cancelled.json", "005-delta-cancelled.json"),
        ("006-applications-empty.json", "006-apps-empty.json"),
    ];
    for (event, raw) in pairs {
        let e = json(&format!("eureka-events/spring-cloud-netflix-5/{event}"));
        assert_eq!(
            e["data"],
            json(&format!("eureka/spring-cloud-netflix-5/{raw}")),
            "{event}"
        );
        assert_eq!(e["sourceversion"], times[raw].as_str(), "{event}");
        for app in e["data"]["applications"]["application"].as_array().unwrap() {
            for i in app["instance"].as_array().unwrap() {
                let updated: u64 = i["lastUpdatedTimestamp"].as_str().unwrap().parse().unwrap();
                assert!(updated <= times[raw].parse().unwrap(), "{event}");
            }
        }
    }
}

#[test]
fn eureka_document_versions_are_their_newest_last_updated_timestamp() {
    let event = json("eureka-events/steeltoe-add-then-modify/002-delta.json");
    let newest = event["data"]["applications"]["application"][0]["instance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i["lastUpdatedTimestamp"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .max()
        .unwrap();
    assert_eq!(event["sourceversion"], newest.to_string());
}

/// `derived` minus the fields README says were changed equals `original` minus them.
fn differs_only_in(original: &Value, derived: &Value, fields: &[&str]) -> bool {
    let strip = |v: &Value| -> Map<String, Value> {
        let mut m = v.as_object().unwrap().clone();
        fields.iter().for_each(|f| {
            m.remove(*f);
        });
        m
    };
    strip(original) == strip(derived)
}

#[test]
fn derived_instance_events_change_only_status_action_and_timestamps() {
    let original =
        json("eureka/single-app/001-application.json")["application"]["instance"][0].clone();
    let added = data("eureka-events/instance-lifecycle/001-added.json");
    assert_eq!(added["instance"], original);

    let changed = [
        "status",
        "actionType",
        "lastUpdatedTimestamp",
        "lastDirtyTimestamp",
    ];
    let down = data("eureka-events/instance-lifecycle/002-modified-down.json");
    assert!(differs_only_in(&original, &down, &changed));
    assert_eq!(
        (down["status"].as_str(), down["actionType"].as_str()),
        (Some("DOWN"), Some("MODIFIED"))
    );
    let deleted = data("eureka-events/instance-lifecycle/003-deleted.json")["instance"].clone();
    assert!(differs_only_in(&original, &deleted, &changed));
    assert_eq!(deleted["actionType"], "DELETED");

    let updated = |v: &Value| {
        v["lastUpdatedTimestamp"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    assert!(updated(&original) < updated(&down) && updated(&down) < updated(&deleted));
}

fn znodes() -> Vec<String> {
    read("dubbo-zk/raw/provider-znodes.txt")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn children(rel: &str) -> Vec<String> {
    data(&format!("dubbo-zk/{rel}"))["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn provider_children_are_the_fixture_znodes_exactly() {
    let lines = znodes();
    assert_eq!(lines.len(), 6);
    assert_eq!(
        children("dubbo27-providers/001-providers-ComplexService.json"),
        [lines[1].clone()]
    );
    assert_eq!(
        children("dubbo27-providers/002-providers-DemoService.json"),
        [&lines[0], &lines[2], &lines[3]].map(Clone::clone)
    );
    assert_eq!(
        children("dubbo3-tri-and-app-level/001-providers-GreetingsService.json"),
        [lines[4].clone()]
    );
    assert_eq!(
        children("dubbo3-tri-and-app-level/004-providers-springboot-DemoService.json"),
        [lines[5].clone()]
    );
    assert_eq!(
        children("scale-down/001-providers-DemoService-two-providers.json"),
        [&lines[2], &lines[3]].map(Clone::clone)
    );
    assert_eq!(
        children("scale-down/002-providers-DemoService-one-removed.json"),
        [lines[2].clone()]
    );
    assert!(children("scale-down/003-providers-DemoService-last-removed.json").is_empty());
}

#[test]
fn the_weighted_provider_is_a_fixture_url_plus_weight_50() {
    let lines = znodes();
    let kids = children("disabled-and-weighted/001-providers-DemoService.json");
    assert_eq!(kids[..2], [lines[2].clone(), lines[3].clone()]);
    assert_eq!(
        kids[2],
        format!("{}{}", lines[0], java_url_encode("&weight=50"))
    );
    // Still what Dubbo would write: URL.encode of the URL, parameters in sorted order.
    let url = url_decode(&kids[2]);
    assert_eq!(java_url_encode(&url), kids[2]);
    let keys: Vec<&str> = url
        .split_once('?')
        .unwrap()
        .1
        .split('&')
        .map(|p| p.split('=').next().unwrap())
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

#[test]
fn znode_names_are_dubbo_url_encoded_urls() {
    for line in znodes() {
        assert_eq!(java_url_encode(&url_decode(&line)), line);
    }
    let overrides = children("disabled-and-weighted/002-configurators-DemoService.json");
    let decoded: Vec<String> = overrides.iter().map(|c| url_decode(c)).collect();
    assert_eq!(
        decoded,
        [
            "override://172.20.0.29:20880/org.apache.dubbo.samples.basic.api.DemoService?category=configurators&disabled=true&dynamic=false",
            "override://172.20.0.28:20880/org.apache.dubbo.samples.basic.api.DemoService?category=configurators&dynamic=false&weight=200",
        ]
    );
    for (raw, url) in overrides.iter().zip(&decoded) {
        assert_eq!(&java_url_encode(url), raw);
    }
}

#[test]
fn the_application_level_instance_is_the_fixture_curator_json() {
    let raw =
        json("dubbo-zk/raw/dubbo3-instance-services-first-dubbo-provider-30.221.146.35_20880.json");
    let event = data("dubbo-zk/dubbo3-tri-and-app-level/002-instances-first-dubbo-provider.json");
    assert_eq!(event["children"][0]["name"], "30.221.146.35:20880");
    assert_eq!(event["children"][0]["data"], raw);
    let mapping = data("dubbo-zk/dubbo3-tri-and-app-level/003-mapping-GreetingsService.json");
    assert_eq!(mapping["data"], "first-dubbo-provider");
}

#[test]
fn zxids_grow_within_each_scenario() {
    for scenario in [
        "dubbo27-providers",
        "dubbo3-tri-and-app-level",
        "disabled-and-weighted",
        "scale-down",
        "dubbo-3.3",
        "spring-cloud-zookeeper",
    ] {
        let dir = recordings().join("dubbo-zk").join(scenario);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        // An instance list's version is its pzxid, then its newest child's mzxid (a child's
        // data changing, as a Spring Cloud status does, leaves the pzxid as it was).
        let versions: Vec<(u64, u64)> = files
            .iter()
            .map(|f| {
                let v: Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
                let newest_child = v["data"]["children"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c["mzxid"].as_u64())
                    .max()
                    .unwrap_or(0);
                let major = v["sourceversion"].as_str().unwrap().parse().unwrap();
                (major, newest_child)
            })
            .collect();
        assert!(
            versions.windows(2).all(|w| w[0] < w[1]),
            "{scenario}: {versions:?}"
        );
    }
}

#[test]
fn every_znode_name_in_every_event_is_what_dubbo_would_store() {
    let root = recordings().join("dubbo-zk");
    let mut checked = 0;
    for scenario in std::fs::read_dir(&root).unwrap() {
        let dir = scenario.unwrap().path();
        if dir.ends_with("raw") {
            continue;
        }
        for file in std::fs::read_dir(&dir).unwrap() {
            let event: Value =
                serde_json::from_str(&std::fs::read_to_string(file.unwrap().path()).unwrap())
                    .unwrap();
            let Some(kids) = event["data"]["children"].as_array() else {
                continue;
            };
            for kid in kids.iter().filter_map(Value::as_str) {
                assert_eq!(java_url_encode(&url_decode(kid)), kid);
                checked += 1;
            }
        }
    }
    assert!(checked >= 10, "{checked}");
}
