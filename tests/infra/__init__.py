"""Real services for the test suite, started by the test run itself.

Each service runs as a child process on a free loopback port, is waited for
with a readiness check, and is torn down afterwards. Nothing here is a mock:
the suite talks to a real Kafka broker, a real PostgreSQL cluster, a real
``mlflow server`` and real git remotes.
"""
