//! Any UTF-8 text as a decoded Dubbo URL, a znode name and a Dubbo 3 instance: no panics, and
//! whatever parses prints back to something that parses to the same URL.
#![no_main]

use libfuzzer_sys::fuzz_target;
use regsync_dubbo::{AppInstance, DubboUrl, apply_configurators, parse_category_path, parse_mapping};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for parsed in [DubboUrl::parse(text), DubboUrl::from_znode(text)] {
        let Ok(url) = parsed else { continue };
        let _ = (url.interface(), url.group(), url.version(), url.weight(), url.is_enabled());
        // Printing is stable once a URL has been through the parser.
        let printed = url.to_url_string();
        let reparsed = DubboUrl::parse(&printed).expect("a printed URL parses");
        assert_eq!(reparsed.to_url_string(), printed);
        let from_znode = DubboUrl::from_znode(&url.to_znode()).expect("an encoded URL decodes");
        assert_eq!(from_znode, reparsed);
        let _ = apply_configurators(&reparsed, std::slice::from_ref(&url));
    }
    let _ = AppInstance::parse("127.0.0.1:20880", text);
    let _ = parse_category_path(text, "/dubbo");
    let _ = parse_mapping(text);
});
