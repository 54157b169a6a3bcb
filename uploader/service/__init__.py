"""Service mode: `uploader serve`, a jobs API over the pipeline, with one quota for all jobs."""
