// A single OpenSearch node for tests: the server from Maven Central with its Netty 4
// HTTP transport loaded as a classpath plugin (no distribution, no plugin folders).
//
//   java -cp 'libs/*:classes' EmbeddedNode HOME HTTP_PORT
//
// Prints "started http://127.0.0.1:PORT" once the node is up; stops on SIGTERM.
import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.CountDownLatch;

import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

public class EmbeddedNode extends Node {
  EmbeddedNode(Environment env, Collection<Class<? extends Plugin>> plugins) {
    super(env, plugins, true);
  }

  public static void main(String[] args) throws Exception {
    Path home = Path.of(args[0]);
    String port = args[1];
    Settings settings = Settings.builder()
        .put("path.home", home.toString())
        .put("path.data", home.resolve("data").toString())
        .put("path.logs", home.resolve("logs").toString())
        .put("cluster.name", "tapbeat-test")
        .put("node.name", "tapbeat-test-node")
        .put("discovery.type", "single-node")
        .put("network.host", "127.0.0.1")
        .put("http.port", port)
        .put("transport.port", Integer.toString(Integer.parseInt(port) + 100))
        .put("http.type", "netty4")
        .put("transport.type", "netty4")
        .put("cluster.routing.allocation.disk.threshold_enabled", false)
        .put("action.auto_create_index", true)
        .build();
    Environment env = InternalSettingsPreparer.prepareEnvironment(settings, java.util.Map.of(), null, () -> "tapbeat-test-node");
    EmbeddedNode node = new EmbeddedNode(env, List.of(Netty4Plugin.class));
    node.start();
    System.out.println("started http://127.0.0.1:" + port);
    System.out.flush();
    CountDownLatch done = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        node.close();
      } catch (Exception e) {
        e.printStackTrace();
      }
      done.countDown();
    }));
    done.await();
  }
}
