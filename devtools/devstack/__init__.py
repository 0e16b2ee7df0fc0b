"""A laptop stack of real services, started as child processes.

``make demo`` and the test suite both start a real ``mlflow server`` (and the
suite a Kafka broker and PostgreSQL) through these helpers, so what a
newcomer runs and what CI tests are the same processes.
"""
