// Ready asks a Kafka broker for cluster metadata (a Metadata request through
// the broker's own admin client) and exits 0 once it answers, 1 on timeout.
// Run as a single-file source program: java -cp 'libs/*' Ready.java HOST:PORT SECONDS
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterOptions;

public class Ready {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(Long.parseLong(args[1]));
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "2000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "3000");
        try (Admin admin = Admin.create(props)) {
            while (System.nanoTime() < deadline) {
                try {
                    var cluster = admin.describeCluster(new DescribeClusterOptions().timeoutMs(2000));
                    int nodes = cluster.nodes().get().size();
                    String id = cluster.clusterId().get();
                    if (nodes > 0) {
                        System.out.println("kafka ready: cluster " + id + ", " + nodes + " node(s)");
                        return;
                    }
                } catch (Exception e) {
                    // Not up yet: try again until the deadline.
                }
                Thread.sleep(200);
            }
        }
        System.err.println("kafka at " + bootstrap + " did not answer a metadata request in time");
        System.exit(1);
    }
}
