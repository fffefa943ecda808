"""The queue pipeline: a Celery app on Redis (`worker.app`), thin tasks (`worker.tasks`) around plain functions
(`worker.jobs`), the model loaded once per summarize process (`worker.model_cache`), and a real in-process worker
for the embedded default (`worker.embedded`)."""
