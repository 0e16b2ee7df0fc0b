"""HTTP routes of the service beyond ingestion: the status and admin API."""
