package io.regsync.peers.dubbo.sczk;

import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * A Spring Cloud web application that registers itself in ZooKeeper through Spring Cloud
 * Zookeeper Discovery (Curator service discovery under /services/NAME/ID). Name, port, address,
 * instance id and metadata come from the command line.
 */
@SpringBootApplication
@RestController
public class ZookeeperClientApp {
  @Value("${spring.cloud.zookeeper.discovery.instance-id:unknown}")
  private String instanceId;

  public static void main(String[] args) {
    SpringApplication.run(ZookeeperClientApp.class, args);
  }

  /** What a caller reaches: which instance answered. */
  @GetMapping("/")
  public String whoami() {
    return instanceId + "\n";
  }
}
