//! Synthetic Eureka events for tests and benchmarks (feature `testkit`): instances in the
//! Spring Cloud JSON shape, wrapped in regsync CloudEvents.

use regsync_model::RegistryEvent;

/// One instance of `SERVICE-<app>` at `ip`, with `version` as its timestamps and metadata.
pub fn instance(app: usize, ip: &str, version: u64) -> serde_json::Value {
    serde_json::json!({
        "instanceId": format!("{ip}:service-{app}:8080"), "hostName": ip,
        "app": format!("SERVICE-{app}"), "ipAddr": ip, "status": "UP",
        "overriddenStatus": "UNKNOWN",
        "port": {"$": 8080, "@enabled": "true"}, "securePort": {"$": 8443, "@enabled": "false"},
        "dataCenterInfo": {"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"},
        "leaseInfo": {"registrationTimestamp": 1_700_000_000_000u64},
        "metadata": {"management.port": "8080", "version": format!("v{version}")},
        "lastUpdatedTimestamp": (1_700_000_000_000u64 + version).to_string(),
        "lastDirtyTimestamp": (1_700_000_000_000u64 + version).to_string(),
        "actionType": "MODIFIED"
    })
}

/// The address of instance `i` of application `app`.
pub fn ip(app: usize, i: usize) -> String {
    format!("10.{}.{}.{}", app / 250 % 250, app % 250, i % 250 + 1)
}

fn event(
    id: String,
    ty: &str,
    subject: Option<String>,
    version: u64,
    data: serde_json::Value,
) -> RegistryEvent {
    let mut v = serde_json::json!({
        "specversion": "1.0", "id": id, "source": "regsync-testkit", "type": ty,
        "registry": "eureka", "sourceversion": (1_700_000_000_000u64 + version).to_string(),
        "datacontenttype": "application/json", "data": data
    });
    if let Some(s) = subject {
        v["subject"] = s.into();
    }
    RegistryEvent::from_value(v).expect("testkit events are valid")
}

/// A whole-registry document: `apps` applications of `per_app` instances each.
pub fn registry(apps: usize, per_app: usize) -> RegistryEvent {
    registry_at(apps, per_app, 0)
}

/// A whole-registry document at `version`: a later version replaces the registry's state.
pub fn registry_at(apps: usize, per_app: usize, version: u64) -> RegistryEvent {
    let apps: Vec<serde_json::Value> = (0..apps)
        .map(|a| {
            serde_json::json!({
                "name": format!("SERVICE-{a}"),
                "instance": (0..per_app).map(|i| instance(a, &ip(a, i), version)).collect::<Vec<_>>()
            })
        })
        .collect();
    event(
        format!("testkit-registry-{version}"),
        "io.regsync.eureka.applications.v1",
        None,
        version,
        serde_json::json!({"applications": {"application": apps}}),
    )
}

/// One application's complete instance list (`GET /eureka/apps/{APP}`): `SERVICE-<app>` with
/// `per_app` instances. Many of these load a large registry in events under the size limit.
pub fn application(app: usize, per_app: usize) -> RegistryEvent {
    let name = format!("SERVICE-{app}");
    event(
        format!("testkit-application-{app}"),
        "io.regsync.eureka.application.v1",
        Some(name.clone()),
        0,
        serde_json::json!({"application": {
            "name": name,
            "instance": (0..per_app).map(|i| instance(app, &ip(app, i), 0)).collect::<Vec<_>>()
        }}),
    )
}

/// One instance event: `SERVICE-<app>` at `ip`, at `version`.
pub fn instance_event(app: usize, ip: &str, version: u64) -> RegistryEvent {
    event(
        format!("testkit-{app}-{ip}-{version}"),
        "io.regsync.eureka.instance.v1",
        Some(format!("SERVICE-{app}")),
        version,
        serde_json::json!({"instance": instance(app, ip, version)}),
    )
}
