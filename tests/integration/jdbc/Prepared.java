import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;

// MariaDB Connector/J with server-side prepared statements (useServerPrepStmts): it
// sends each prepare with its first execute (statement -1) in one go, and MariaDB 10.6+
// leaves the column definitions out of execute results (cached metadata). Prints each
// statement sent: text, "rows" or "affected", the count the driver saw.
public class Prepared {
  public static void main(String[] args) throws Exception {
    String url = "jdbc:mariadb://127.0.0.1:" + args[0] + "/t?user=app&password=secret&useServerPrepStmts=true";
    try (Connection c = DriverManager.getConnection(url)) {
      try (Statement s = c.createStatement()) {
        String create = "CREATE TABLE IF NOT EXISTS jt (id INT PRIMARY KEY, name VARCHAR(64))";
        System.out.println(create + "\taffected\t" + s.executeUpdate(create));
      }
      String insert = "INSERT INTO jt VALUES (?, ?)";
      try (PreparedStatement ins = c.prepareStatement(insert)) {
        for (int i = 0; i < 30; i++) {
          ins.setInt(1, i);
          ins.setString(2, "name-" + i);
          System.out.println(insert + "\taffected\t" + ins.executeUpdate());
        }
      }
      String select = "SELECT id, name FROM jt WHERE id < ? ORDER BY id";
      try (PreparedStatement sel = c.prepareStatement(select)) {
        for (int k = 1; k <= 12; k++) {
          sel.setInt(1, k);
          int n = 0;
          try (ResultSet rs = sel.executeQuery()) {
            while (rs.next()) n++;
          }
          System.out.println(select + "\trows\t" + n);
        }
      }
      String count = "SELECT COUNT(*) FROM jt";
      try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(count)) {
        rs.next();
        System.out.println(count + "\trows\t1");
      }
    }
  }
}
