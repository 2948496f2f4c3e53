package io.regsync.peers.dubbo.provider;

/** The other interface the test provider exports. */
public interface EchoService {
  /** Returns its argument. */
  String echo(String text);
}
