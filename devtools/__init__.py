"""Development tools, kept out of the shipped packages: the demo, the dev stack the tests and the demo start
(``mlflow server``, the service as a process, senders' signed webhooks) and the raw data generator."""
