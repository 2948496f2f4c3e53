package io.regsync.peers.eureka.client;

import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * A Spring Cloud web application that registers itself with Eureka through its own client. Name,
 * port, instance id, address, metadata and zone come from the command line.
 */
@SpringBootApplication
@RestController
public class EurekaClientApp {
  @Value("${eureka.instance.instance-id:unknown}")
  private String instanceId;

  public static void main(String[] args) {
    SpringApplication.run(EurekaClientApp.class, args);
  }

  /** What a caller reaches: which instance answered. */
  @GetMapping("/")
  public String whoami() {
    return instanceId + "\n";
  }
}
