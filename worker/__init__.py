"""The queue: a Celery app on Redis (`docsum.worker.app`), thin tasks around the services (`docsum.worker.tasks`),
and a real in-process worker for the embedded default (`docsum.worker.embedded`)."""
