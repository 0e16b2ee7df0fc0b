#!/bin/bash
# Entrypoint of the project image. Spark on Kubernetes (spark-submit's Kubernetes backend, which spark-operator
# drives) starts the driver and executor pods from this image with the first argument `driver` or `executor`, and
# describes the pod in environment variables. Any other command runs as given: the service's `mlops-gitops serve`,
# the pipeline steps' `python -m workflows.steps ...`.
set -euo pipefail

case ${1:-} in
    driver)
        shift
        # The operator submitted the application in cluster mode; in its own pod the driver runs it in client mode,
        # listening on the pod's address and telling the executors where that is.
        exec spark-submit --deploy-mode client \
            --conf "spark.driver.bindAddress=${SPARK_DRIVER_BIND_ADDRESS:?set by Spark for the driver pod}" \
            --conf "spark.executorEnv.SPARK_DRIVER_POD_IP=$SPARK_DRIVER_BIND_ADDRESS" \
            "$@"
        ;;
    executor)
        shift
        # The executor's JVM options arrive numbered (SPARK_JAVA_OPT_0, _1, ...), in the order they must be given.
        java_opts=()
        for ((i = 0; ; i++)); do
            name=SPARK_JAVA_OPT_$i
            [ -n "${!name+set}" ] || break
            java_opts+=("${!name}")
        done
        exec java "${java_opts[@]}" \
            -Xms"${SPARK_EXECUTOR_MEMORY:?}" -Xmx"$SPARK_EXECUTOR_MEMORY" \
            -cp "$SPARK_HOME/conf:$SPARK_HOME/jars/*${SPARK_CLASSPATH:+:$SPARK_CLASSPATH}" \
            org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend \
            --driver-url "${SPARK_DRIVER_URL:?}" \
            --executor-id "${SPARK_EXECUTOR_ID:?}" \
            --cores "${SPARK_EXECUTOR_CORES:?}" \
            --app-id "${SPARK_APPLICATION_ID:?}" \
            --hostname "${SPARK_EXECUTOR_POD_IP:?}" \
            --resourceProfileId "${SPARK_RESOURCE_PROFILE_ID:-0}" \
            --podName "${SPARK_EXECUTOR_POD_NAME:?}"
        ;;
    *) exec "$@" ;;
esac
