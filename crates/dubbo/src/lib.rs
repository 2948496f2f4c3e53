//! Dubbo provider URLs, configurators and Dubbo 3 application-level instances from ZooKeeper
