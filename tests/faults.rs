//! Fault tests: while providers keep registering and deregistering in ZooKeeper, each component
//! in turn is killed (SIGKILL, as on a crash or an OOM kill) and restarted: the broker (a
//! private Apache Kafka, same ports and log directory), the consumer (at once, as a
//! crash-looping pod is: the group hands its partitions over when its session ends), the MCP server (same address; the
//! client reconnects as istiod does), the bridge (same state file), the S3 server (a private
//! SeaweedFS, same port and data directory). After each fault the mesh converges to the registry's
//! true state, and stays there: nothing lost, and no stale event wins later.

use std::time::Duration;

use crate::cluster::{
    Broker, Mesh, Proc, Registry, S3, bridge, consume, mcp_addr, mcp_serve, unique,
};

/// How long changes flow in each phase; the fault starts a second in and lasts `DOWN`.
const CHURN: Duration = Duration::from_secs(4);
const DOWN: Duration = Duration::from_millis(1500);
const SERVICES: usize = 3;
const PROVIDERS: u64 = 8;

/// A deterministic stream of changes: each toggles one provider (registered → deregistered,
/// and back), about 20 a second.
struct Churn {
    seed: u64,
    changes: usize,
}

impl Churn {
    fn next(&mut self) -> u64 {
        // Knuth's MMIX LCG: deterministic, no dependency.
        self.seed = self
            .seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.seed >> 33
    }

    /// Toggles providers for `CHURN`, then hands the registry back.
    async fn run(mut self, mut registry: Registry) -> (Self, Registry) {
        let end = tokio::time::Instant::now() + CHURN;
        while tokio::time::Instant::now() < end {
            let r = self.next();
            let s = (r % SERVICES as u64) as usize;
            let ip = format!("10.9.{s}.{}", (r / SERVICES as u64) % PROVIDERS);
            if registry.is_registered(s, &ip) {
                registry.deregister(s, &ip).await;
            } else {
                registry.register(s, &ip).await;
            }
            self.changes += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (self, registry)
    }
}

/// The components regsync runs, each restartable.
struct Deployment {
    broker: Broker,
    s3: S3,
    topic: String,
    group: String,
    store: String,
    addr: std::net::SocketAddr,
    state: tempfile::TempDir,
    dubbo_root: String,
    bridge: Option<Proc>,
    consume: Option<Proc>,
    mcp: Option<Proc>,
}

impl Deployment {
    fn start_bridge(&mut self) {
        let sink = format!("kafka://{}/{}", self.broker.addr, self.topic);
        self.bridge = Some(bridge(&self.dubbo_root, &sink, self.state.path()));
    }

    fn start_consume(&mut self) {
        self.consume = Some(consume(
            &self.broker.addr,
            &self.topic,
            &self.group,
            &self.store,
            &self.s3,
        ));
    }

    fn start_mcp(&mut self) {
        self.mcp = Some(mcp_serve(&self.store, self.addr, &self.s3));
    }
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    Broker,
    S3,
    Consumer,
    McpServer,
    Bridge,
}

impl Fault {
    fn inject(self, d: &mut Deployment) {
        match self {
            Fault::Broker => d.broker.kill(),
            Fault::S3 => d.s3.kill(),
            Fault::Consumer => d.consume = None,
            Fault::McpServer => d.mcp = None,
            Fault::Bridge => d.bridge = None,
        }
    }

    async fn heal(self, d: &mut Deployment) {
        match self {
            Fault::Broker => d.broker.start().await,
            Fault::S3 => d.s3.start().await,
            Fault::Consumer => d.start_consume(),
            Fault::McpServer => d.start_mcp(),
            Fault::Bridge => d.start_bridge(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_component_killed_while_changes_flow_and_the_mesh_converges_to_the_registry() {
    let broker = Broker::private().await;
    let s3 = S3::private().await;
    let topic = unique("faults");
    broker.create_topic(&topic, 3).await;
    let registry = Registry::new(SERVICES).await;
    let mut d = Deployment {
        store: s3.url("mesh"),
        broker,
        s3,
        topic,
        group: unique("g"),
        addr: mcp_addr(),
        state: tempfile::tempdir().unwrap(),
        dubbo_root: registry.dubbo_root(),
        bridge: None,
        consume: None,
        mcp: None,
    };
    d.start_bridge();
    d.start_consume();
    d.start_mcp();
    let mut mesh = Mesh::new(d.addr);
    let mut churn = Churn {
        seed: 7,
        changes: 0,
    };
    let mut registry = registry;

    for fault in [
        Fault::Broker,
        Fault::S3,
        Fault::Consumer,
        Fault::McpServer,
        Fault::Bridge,
    ] {
        let flow = tokio::spawn(churn.run(registry));
        tokio::time::sleep(Duration::from_secs(1)).await;
        fault.inject(&mut d);
        tokio::time::sleep(DOWN).await;
        fault.heal(&mut d).await;
        (churn, registry) = flow.await.unwrap();
        let truth = registry.truth();
        eprintln!(
            "after {fault:?}: {} changes so far, {} providers registered",
            churn.changes,
            truth.len()
        );
        mesh.converge(&truth, Duration::from_secs(90)).await;
        // No late, older event undoes it.
        mesh.hold(&truth, Duration::from_secs(2)).await;
    }
    assert!(
        mesh.reconnects >= 2,
        "the client reconnected after the MCP server's restart"
    );
}
