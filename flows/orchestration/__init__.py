"""The Prefect flow and what runs it: the pipeline's stages, task runners, the deployment,
reports and artifacts, fault injection."""
