package io.regsync.peers.dubbo.provider;

/** One of the two interfaces the test provider exports. */
public interface GreetingService {
  /** Answers with the caller's name and the provider that answered. */
  String greet(String name);
}
