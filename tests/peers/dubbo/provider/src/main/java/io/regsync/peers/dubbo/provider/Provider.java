package io.regsync.peers.dubbo.provider;

import java.util.ArrayList;
import java.util.List;
import org.apache.dubbo.config.ApplicationConfig;
import org.apache.dubbo.config.ProtocolConfig;
import org.apache.dubbo.config.RegistryConfig;
import org.apache.dubbo.config.ServiceConfig;
import org.apache.dubbo.config.bootstrap.DubboBootstrap;

/**
 * A Dubbo 3 provider registering in ZooKeeper the way a real application does, through Dubbo's
 * own registry code. Everything comes from the command line:
 *
 * <pre>
 * --app NAME                   application name (dubbo-peer)
 * --zookeeper HOST:PORT        registry address (127.0.0.1:2181)
 * --register-mode MODE         interface | instance | all (all)
 * --metadata-type TYPE         local | remote (local)
 * --protocol NAME:PORT         dubbo or tri and its port; repeat for several (dubbo:20880)
 * --host ADDRESS               address to register, through DUBBO_IP_TO_REGISTRY (default:
 *                              the one Dubbo picks, the machine's first non-loopback address;
 *                              Dubbo refuses to register any 127.x address, even this way)
 * --service IFACE[:GROUP[:VERSION[:WEIGHT]]]   greeting or echo; repeat for several (greeting)
 * --session MS                 ZooKeeper session timeout (Dubbo's default is 60000)
 * </pre>
 *
 * It prints "dubbo provider ready" once every service is exported and registered, and
 * unregisters on SIGTERM (Dubbo's shutdown hook); kill -9 leaves its ephemeral znodes to the
 * session timeout.
 */
public final class Provider {
  private Provider() {}

  public static void main(String[] args) {
    String app = "dubbo-peer";
    String zookeeper = "127.0.0.1:2181";
    String mode = "all";
    String metadataType = "local";
    String host = null;
    String session = null;
    List<String> protocols = new ArrayList<>();
    List<String> services = new ArrayList<>();
    for (int i = 0; i < args.length; i++) {
      String flag = args[i];
      if (i + 1 >= args.length) {
        throw new IllegalArgumentException("flag " + flag + " needs a value");
      }
      String value = args[++i];
      switch (flag) {
        case "--app" -> app = value;
        case "--zookeeper" -> zookeeper = value;
        case "--register-mode" -> mode = value;
        case "--metadata-type" -> metadataType = value;
        case "--protocol" -> protocols.add(value);
        case "--host" -> host = value;
        case "--service" -> services.add(value);
        case "--session" -> session = value;
        default -> throw new IllegalArgumentException(
            "unknown flag " + flag + " (see the class comment of " + Provider.class.getName() + ")");
      }
    }
    if (protocols.isEmpty()) {
      protocols.add("dubbo:20880");
    }
    if (services.isEmpty()) {
      services.add("greeting");
    }

    // Dubbo takes a configured 127.x host for "no host" and registers the machine's address
    // instead (NetUtils.isInvalidLocalHost); this property is how operators pin it.
    if (host != null) {
      System.setProperty("DUBBO_IP_TO_REGISTRY", host);
    }

    ApplicationConfig application = new ApplicationConfig(app);
    application.setRegisterMode(mode);
    application.setQosEnable(false);
    application.setMetadataType(metadataType);

    String address = "zookeeper://" + zookeeper + (session == null ? "" : "?session=" + session);
    RegistryConfig registry = new RegistryConfig(address);

    List<ProtocolConfig> protocolConfigs = new ArrayList<>();
    for (String p : protocols) {
      String[] parts = p.split(":");
      if (parts.length != 2) {
        throw new IllegalArgumentException("--protocol " + p + ": expected NAME:PORT, e.g. tri:50051");
      }
      ProtocolConfig pc = new ProtocolConfig(parts[0], Integer.parseInt(parts[1]));
      protocolConfigs.add(pc);
    }

    DubboBootstrap bootstrap = DubboBootstrap.getInstance()
        .application(application)
        .registry(registry)
        .protocols(protocolConfigs);
    String label = app;
    for (String s : services) {
      String[] parts = s.split(":", -1);
      ServiceConfig<Object> service = new ServiceConfig<>();
      switch (parts[0]) {
        case "greeting" -> {
          service.setInterface(GreetingService.class);
          service.setRef(new Greeter(label));
        }
        case "echo" -> {
          service.setInterface(EchoService.class);
          service.setRef(new Echo());
        }
        default -> throw new IllegalArgumentException(
            "--service " + s + ": the interface is greeting or echo");
      }
      if (parts.length > 1 && !parts[1].isEmpty()) {
        service.setGroup(parts[1]);
      }
      if (parts.length > 2 && !parts[2].isEmpty()) {
        service.setVersion(parts[2]);
      }
      if (parts.length > 3 && !parts[3].isEmpty()) {
        service.setWeight(Integer.parseInt(parts[3]));
      }
      bootstrap.service(service);
    }
    bootstrap.start();
    System.out.println("dubbo provider ready");
    System.out.flush();
    bootstrap.await();
  }

  /** A named class, not a lambda: Dubbo generates a wrapper class that names the ref's class. */
  public static final class Greeter implements GreetingService {
    private final String label;

    Greeter(String label) {
      this.label = label;
    }

    @Override
    public String greet(String name) {
      return "hello " + name + " from " + label;
    }
  }

  /** See {@link Greeter}. */
  public static final class Echo implements EchoService {
    @Override
    public String echo(String text) {
      return text;
    }
  }
}
