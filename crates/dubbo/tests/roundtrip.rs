//! Property tests: printing and parsing Dubbo URLs, plain and as znode names, are inverse.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use regsync_dubbo::DubboUrl;

fn interface() -> impl Strategy<Value = String> {
    (
        "(org|com|io)",
        prop::collection::vec("[a-z][a-z0-9]{0,7}", 1..4),
        "[A-Z][A-Za-z0-9]{0,15}",
    )
        .prop_map(|(tld, parts, name)| format!("{tld}.{}.{name}", parts.join(".")))
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|o| Ipv4Addr::from(o).to_string()),
        "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9]{0,6}){0,2}",
        any::<[u16; 8]>().prop_map(|s| Ipv6Addr::from(s).to_string()),
    ]
}

/// Values with the characters real parameters carry (`,` `:` `/` `=` `%` `?` `#` `+`, spaces
/// inside, non-ASCII), but never `&` or `;` (Dubbo cannot register those) and never leading or
/// trailing whitespace (Dubbo trims it when printing).
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-zA-Z0-9.,:/=%?#+*~_ 中-]{0,24}".prop_map(|v| v.trim().to_owned()),
        Just("ServiceBean:product/org.example.Demo:2.0.0".to_owned()),
        Just("100%25 of a=b, c:d/e".to_owned()),
    ]
}

fn params() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map("[a-z][a-z0-9._~-]{0,12}", value(), 0..8).prop_map(|m| {
        m.into_iter()
            .filter(|(k, _)| !k.starts_with("default."))
            .collect()
    })
}

fn dubbo_url() -> impl Strategy<Value = DubboUrl> {
    (
        prop::sample::select(vec![
            "dubbo", "tri", "rest", "override", "consumer", "empty",
        ]),
        prop::option::of((
            "[a-z][a-z0-9]{0,7}",
            prop::option::of("[A-Za-z0-9!$:@]{1,10}"),
        )),
        host(),
        prop_oneof![Just(0u16), Just(20880), Just(50051), any::<u16>()],
        prop_oneof![
            interface(),
            Just(String::new()),
            interface().prop_map(|i| format!("group/{i}"))
        ],
        params(),
    )
        .prop_map(|(protocol, user, host, port, path, params)| DubboUrl {
            protocol: protocol.to_owned(),
            username: user.as_ref().map(|(u, _)| u.clone()),
            password: user.and_then(|(_, p)| p),
            host,
            port,
            path,
            params,
        })
}

proptest! {
    #[test]
    fn parsing_a_printed_url_gives_it_back(url in dubbo_url()) {
        let printed = url.to_url_string();
        prop_assert_eq!(DubboUrl::parse(&printed).unwrap(), url.clone(), "{}", printed);
    }

    #[test]
    fn decoding_an_encoded_znode_gives_the_url_back(url in dubbo_url()) {
        let znode = url.to_znode();
        prop_assert!(!znode.contains(['/', '?', '&', '=', ':', ' ']), "{}", znode);
        prop_assert_eq!(DubboUrl::from_znode(&znode).unwrap(), url);
    }

    #[test]
    fn printing_a_parsed_url_is_stable(url in dubbo_url()) {
        let once = url.to_url_string();
        let twice = DubboUrl::parse(&once).unwrap().to_url_string();
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn arbitrary_text_never_panics_the_parsers(s in "\\PC{0,80}") {
        let _ = DubboUrl::parse(&s);
        let _ = DubboUrl::from_znode(&s);
        let _ = regsync_dubbo::AppInstance::parse("h:1", &s);
    }
}
