"""Run inside the freshly built project image: Spark on the classpath it ships, reading s3:// through S3A.

Starts a local Spark session the way the ETL step does and asks Hadoop which filesystem class serves
``s3://`` and ``s3a://`` paths, then loads the AWS SDK's S3 client class: both resolve only when the
S3A connector and its SDK bundle sit on Spark's classpath. Prints one line per check; exits non-zero on failure.
"""

from workflows.steps.contract import SparkRuntime
from workflows.steps.spark import S3A_FILESYSTEM, spark_session

spark = spark_session(SparkRuntime(shuffle_partitions=1, driver_memory="512m"))
jvm = spark.sparkContext._jvm
hadoop = spark._jsparkSession.sessionState().newHadoopConf()
for scheme in ("s3", "s3a"):
    served_by = jvm.org.apache.hadoop.fs.FileSystem.getFileSystemClass(scheme, hadoop).getName()
    assert served_by == S3A_FILESYSTEM, f"{scheme}:// is served by {served_by}"
    print(f"{scheme}:// -> {served_by}")
sdk = jvm.java.lang.Class.forName("software.amazon.awssdk.services.s3.S3Client")
print(f"AWS SDK: {sdk.getProtectionDomain().getCodeSource().getLocation().getPath()}")
spark.stop()
