package io.regsync.peers.eureka.server;

import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.cloud.netflix.eureka.server.EnableEurekaServer;
import org.springframework.context.annotation.Bean;
import org.springframework.security.config.Customizer;
import org.springframework.security.config.annotation.web.builders.HttpSecurity;
import org.springframework.security.web.SecurityFilterChain;

/**
 * A Netflix Eureka server; its settings come from application.properties and the command line.
 * Open by default; with --regsync.basic-auth=true every request needs HTTP basic auth as
 * spring.security.user.name / spring.security.user.password (what Spring Cloud's docs show for
 * securing a Eureka server: Spring Security, CSRF off so that clients can register).
 */
@SpringBootApplication
@EnableEurekaServer
public class EurekaServer {
  public static void main(String[] args) {
    SpringApplication.run(EurekaServer.class, args);
  }

  @Bean
  SecurityFilterChain security(HttpSecurity http, @Value("${regsync.basic-auth:false}") boolean auth)
      throws Exception {
    http.csrf(csrf -> csrf.disable());
    if (auth) {
      http.authorizeHttpRequests(a -> a.anyRequest().authenticated())
          .httpBasic(Customizer.withDefaults());
    } else {
      http.authorizeHttpRequests(a -> a.anyRequest().permitAll());
    }
    return http.build();
  }
}
