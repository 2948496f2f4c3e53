//! Every line of the recorded Dubbo/ZooKeeper fixtures in `events/recordings/dubbo-zk/raw/`
//! parses to the values it visibly holds, and prints back byte for byte.

use std::path::PathBuf;

use regsync_dubbo::{AppInstance, DubboUrl, apply_configurators, parse_mapping};

fn raw(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/recordings/dubbo-zk/raw")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn lines(name: &str) -> Vec<String> {
    raw(name).lines().map(str::to_owned).collect()
}

fn param<'a>(url: &'a DubboUrl, key: &str) -> Option<&'a str> {
    url.params.get(key).map(String::as_str)
}

/// What one provider line visibly holds.
type Expected = (
    &'static str,         // host
    u16,                  // port
    &'static str,         // interface
    Option<&'static str>, // group
    Option<&'static str>, // version
    &'static str,         // application
);

/// The expected values of each line of the provider fixtures, in file order.
const PROVIDERS: [Expected; 6] = [
    (
        "172.18.0.9",
        20880,
        "org.apache.dubbo.samples.basic.api.DemoService",
        None,
        None,
        "demo-provider",
    ),
    (
        "172.20.0.69",
        20880,
        "org.apache.dubbo.samples.basic.api.ComplexService",
        Some("product"),
        Some("2.0.0"),
        "dubbo-sample-provider",
    ),
    (
        "172.20.0.29",
        20880,
        "org.apache.dubbo.samples.basic.api.DemoService",
        None,
        None,
        "dubbo-sample-provider",
    ),
    (
        "172.20.0.28",
        20880,
        "org.apache.dubbo.samples.basic.api.DemoService",
        None,
        None,
        "dubbo-sample-provider",
    ),
    (
        "30.221.146.35",
        20880,
        "org.apache.dubbo.samples.api.GreetingsService",
        None,
        None,
        "first-dubbo-provider",
    ),
    (
        "10.224.1.29",
        50052,
        "org.apache.dubbo.springboot.demo.DemoService",
        None,
        None,
        "dubbo-springboot-demo-provider",
    ),
];

#[test]
fn every_provider_znode_decodes_to_its_decoded_line() {
    let znodes = lines("provider-znodes.txt");
    let decoded = lines("provider-urls-decoded.txt");
    assert_eq!(znodes.len(), 6);
    assert_eq!(decoded.len(), 6);
    for (znode, text) in znodes.iter().zip(&decoded) {
        let from_znode = DubboUrl::from_znode(znode).unwrap();
        let from_text = DubboUrl::parse(text).unwrap();
        assert_eq!(from_znode, from_text, "{text}");
    }
}

#[test]
fn every_provider_prints_back_byte_for_byte_both_as_url_and_as_znode() {
    for (znode, text) in lines("provider-znodes.txt")
        .iter()
        .zip(lines("provider-urls-decoded.txt"))
    {
        let url = DubboUrl::from_znode(znode).unwrap();
        assert_eq!(url.to_url_string(), text);
        assert_eq!(&url.to_znode(), znode);
    }
}

#[test]
fn every_provider_line_has_the_host_port_interface_group_and_version_it_shows() {
    for (line, expected) in lines("provider-urls-decoded.txt").iter().zip(PROVIDERS) {
        let (host, port, interface, group, version, application) = expected;
        let url = DubboUrl::parse(line).unwrap();
        assert_eq!(url.host, host, "{line}");
        assert_eq!(url.port, port, "{line}");
        assert_eq!(url.interface(), interface, "{line}");
        assert_eq!(url.path, interface, "{line}");
        assert_eq!(url.group(), group, "{line}");
        assert_eq!(url.version(), version, "{line}");
        assert_eq!(url.application(), Some(application), "{line}");
        assert_eq!(url.side(), Some("provider"), "{line}");
        assert_eq!(url.username, None);
        assert!(url.is_enabled(), "{line}");
        assert_eq!(url.weight().unwrap(), None, "{line}");
    }
}

#[test]
fn line_1_keeps_its_method_list_and_timestamp() {
    let url = DubboUrl::parse(&lines("provider-urls-decoded.txt")[0]).unwrap();
    assert_eq!(url.protocol, "dubbo");
    assert_eq!(url.params.len(), 14);
    assert_eq!(param(&url, "methods"), Some("testVoid,sayHello"));
    assert_eq!(param(&url, "anyhost"), Some("true"));
    assert_eq!(param(&url, "timestamp"), Some("1618918522655"));
}

#[test]
fn line_2_keeps_slashes_and_colons_in_values() {
    let url = DubboUrl::parse(&lines("provider-urls-decoded.txt")[1]).unwrap();
    assert_eq!(param(&url, "aeraki_meta_locality"), Some("bj/800002"));
    assert_eq!(
        param(&url, "service.name"),
        Some("ServiceBean:product/org.apache.dubbo.samples.basic.api.ComplexService:2.0.0")
    );
    assert_eq!(param(&url, "service_group"), Some("user"));
}

#[test]
fn lines_3_and_4_differ_only_in_host_and_timestamp() {
    let decoded = lines("provider-urls-decoded.txt");
    let (a, b) = (
        DubboUrl::parse(&decoded[2]).unwrap(),
        DubboUrl::parse(&decoded[3]).unwrap(),
    );
    assert_eq!(
        param(&a, "service.name"),
        Some("ServiceBean:/org.apache.dubbo.samples.basic.api.DemoService")
    );
    let mut b_like_a = b.clone();
    b_like_a.host = a.host.clone();
    b_like_a
        .params
        .insert("timestamp".into(), param(&a, "timestamp").unwrap().into());
    assert_eq!(a, b_like_a);
}

#[test]
fn line_5_is_a_dubbo_3_provider_with_an_ipv6_parameter() {
    let url = DubboUrl::parse(&lines("provider-urls-decoded.txt")[4]).unwrap();
    assert_eq!(
        param(&url, "ipv6"),
        Some("fd00:1:5:5200:3218:774a:4f67:2341")
    );
    assert_eq!(param(&url, "release"), Some("3.1.4"));
    assert_eq!(param(&url, "service-name-mapping"), Some("true"));
    assert_eq!(param(&url, "background"), Some("false"));
}

#[test]
fn line_6_is_a_triple_provider() {
    let url = DubboUrl::parse(&lines("provider-urls-decoded.txt")[5]).unwrap();
    assert_eq!(url.protocol, "tri");
    assert_eq!(url.port, 50052);
    assert_eq!(
        param(&url, "prefer.serialization"),
        Some("fastjson2,hessian2")
    );
    assert_eq!(param(&url, "release"), Some("3.3.0-beta.1"));
}

#[test]
fn the_issue_log_provider_fills_bare_keys_from_default_keys_and_prints_back() {
    let line = &lines("urls-from-issue-logs.txt")[0];
    let url = DubboUrl::parse(line).unwrap();
    assert_eq!(
        (url.protocol.as_str(), url.host.as_str(), url.port),
        ("dubbo", "172.30.158.141", 20880)
    );
    assert_eq!(url.interface(), "cn.jcorn.dubbo.api.GreetingService");
    assert_eq!(param(&url, "default.register"), Some("true"));
    assert_eq!(param(&url, "register"), Some("true"));
    assert_eq!(param(&url, "dynamic"), Some("false"));
    assert_eq!(param(&url, "release"), Some("2.7.1"));
    assert_eq!(&url.to_url_string(), line);
    assert_eq!(DubboUrl::from_znode(&url.to_znode()).unwrap(), url);
}

#[test]
fn the_issue_log_consumer_has_no_port_and_subscribes_to_three_categories() {
    let line = &lines("urls-from-issue-logs.txt")[1];
    let url = DubboUrl::parse(line).unwrap();
    assert_eq!(url.protocol, "consumer");
    assert_eq!((url.host.as_str(), url.port), ("172.30.158.141", 0));
    assert_eq!(url.address(), "172.30.158.141");
    assert_eq!(url.interface(), "cn.jcorn.dubbo.api.GreetingService");
    assert_eq!(
        param(&url, "category"),
        Some("providers,configurators,routers")
    );
    assert_eq!(url.side(), Some("consumer"));
    assert_eq!(param(&url, "lazy"), Some("false"));
    assert_eq!(&url.to_url_string(), line);
}

#[test]
fn the_issue_log_empty_url_parses_and_clears_configurators() {
    let line = &lines("urls-from-issue-logs.txt")[2];
    let empty = DubboUrl::parse(line).unwrap();
    assert_eq!(empty.protocol, "empty");
    assert_eq!((empty.host.as_str(), empty.port), ("10.0.75.1", 20880));
    assert_eq!(empty.interface(), "org.apache.dubbo.demo.api.DemoService");
    assert_eq!(param(&empty, "category"), Some("configurators"));
    assert_eq!(param(&empty, "bind.ip"), Some("10.0.75.1"));
    assert_eq!(param(&empty, "specVersion"), Some("2.7.0-SNAPSHOT"));
    assert_eq!(&empty.to_url_string(), line);

    let provider = DubboUrl::parse(&lines("provider-urls-decoded.txt")[0]).unwrap();
    let disable = DubboUrl::parse(
        "override://0.0.0.0/org.apache.dubbo.samples.basic.api.DemoService?disabled=true",
    )
    .unwrap();
    assert!(!apply_configurators(&provider, std::slice::from_ref(&disable)).is_enabled());
    assert_eq!(apply_configurators(&provider, &[disable, empty]), provider);
}

#[test]
fn an_override_znode_for_fixture_line_1_disables_that_provider_only() {
    let decoded = lines("provider-urls-decoded.txt");
    let (one, three) = (
        DubboUrl::parse(&decoded[0]).unwrap(),
        DubboUrl::parse(&decoded[2]).unwrap(),
    );
    // As dubbo-admin 2.6 writes "disable provider": host and port of the provider, encoded once.
    let rule = DubboUrl::parse(
        "override://172.18.0.9:20880/org.apache.dubbo.samples.basic.api.DemoService?category=configurators&disabled=true&dynamic=false&enabled=true",
    )
    .unwrap();
    let rule = DubboUrl::from_znode(&rule.to_znode()).unwrap();
    assert!(!apply_configurators(&one, std::slice::from_ref(&rule)).is_enabled());
    assert!(apply_configurators(&three, &[rule]).is_enabled());
}

#[test]
fn the_dubbo_3_instance_json_gives_app_address_port_endpoints_and_metadata() {
    let data = raw("dubbo3-instance-services-first-dubbo-provider-30.221.146.35_20880.json");
    let i = AppInstance::parse("30.221.146.35:20880", &data).unwrap();
    assert_eq!(i.app, "first-dubbo-provider");
    assert_eq!(i.id, "30.221.146.35:20880");
    assert_eq!(i.address, "30.221.146.35");
    assert_eq!(i.port, 20880);
    assert_eq!(i.endpoints, vec![(20880, "dubbo".to_owned())]);
    assert_eq!(i.registration_time_ms, Some(1_674_960_781_893));
    assert_eq!(i.metadata.len(), 6);
    assert_eq!(
        i.metadata
            .get("dubbo.metadata.revision")
            .map(String::as_str),
        Some("871fbc9cb2730caea9b0d858852d5ede")
    );
    assert_eq!(
        i.metadata
            .get("dubbo.metadata.storage-type")
            .map(String::as_str),
        Some("local")
    );
    assert_eq!(
        i.metadata.get("ipv6").map(String::as_str),
        Some("fd00:1:5:5200:3218:774a:4f67:2341")
    );
    assert_eq!(
        i.metadata.get("timestamp").map(String::as_str),
        Some("1674960780647")
    );
    assert!(i.metadata["dubbo.metadata-service.url-params"].starts_with("{\"connections\":\"1\""));
}

#[test]
fn the_dubbo_3_instance_and_the_interface_level_line_5_describe_the_same_provider() {
    let data = raw("dubbo3-instance-services-first-dubbo-provider-30.221.146.35_20880.json");
    let instance = AppInstance::parse("30.221.146.35:20880", &data).unwrap();
    let url = DubboUrl::from_znode(&lines("provider-znodes.txt")[4]).unwrap();
    assert_eq!(url.application(), Some(instance.app.as_str()));
    assert_eq!(
        (url.host.as_str(), url.port),
        (instance.address.as_str(), instance.port)
    );
}

#[test]
fn the_mapping_file_lists_three_applications_sorted() {
    assert_eq!(
        parse_mapping(&raw("dubbo3-mapping-DemoService.txt")),
        vec![
            "demo-provider",
            "dubbo-demo-annotation-provider",
            "two-demo-provider"
        ]
    );
}
