package io.dynoffheap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Optional;
import org.junit.jupiter.api.Test;

class RuntimeSupportTest {
  @Test
  void everyLineWorksOnJava17And21() {
    for (String spark : new String[] {"3.5.7", "4.0.1", "4.1.3", "4.2.0"}) {
      assertEquals(Optional.empty(), RuntimeSupport.problem(spark, 17, null), spark);
      assertEquals(Optional.empty(), RuntimeSupport.problem(spark, 21, null), spark);
    }
  }

  @Test
  void sparkBeforeFourTwoCannotRunOnJava24OrLater() {
    for (String spark : new String[] {"3.5.7", "4.0.1", "4.1.3", "4.1.0-SNAPSHOT"}) {
      String problem = RuntimeSupport.problem(spark, 25, "allow").orElseThrow();
      assertTrue(problem.startsWith("Spark " + spark + " cannot run on Java 25: its Hadoop calls "
          + "Subject.getSubject"), problem);
      assertTrue(problem.endsWith("run this application on Java 17 or 21, or on Spark 4.2 or later."), problem);
    }
    assertEquals(Optional.empty(), RuntimeSupport.problem("4.2.0", 25, null));
    assertEquals(Optional.empty(), RuntimeSupport.problem("5.0.0", 26, null));
  }

  @Test
  void onJava23TheSecurityManagerPropertyIsTheWayOut() {
    String problem = RuntimeSupport.problem("4.0.1", 23, null).orElseThrow();
    assertTrue(problem.contains("add -Djava.security.manager=allow to spark.driver.extraJavaOptions"), problem);
    assertEquals(Optional.empty(), RuntimeSupport.problem("4.0.1", 23, "allow"));
  }

  @Test
  void anUnparsableVersionIsNoClaim() {
    assertEquals(Optional.empty(), RuntimeSupport.problem("vendor-build", 25, null));
  }
}
