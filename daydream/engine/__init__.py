"""The trigger path's engine, without Airflow: async generations over the runner's steps, the gate
that keeps LLM calls within their pool's slots across processes, adaptive per-model concurrency
(AIMD) and daily quota stops.

- ``aimd``: a model's concurrency limit, lowered by 429s, raised by sustained success;
- ``quota``: a used-up daily quota detected and recorded under the data root;
- ``gate``: pool slots (``daydream.storage.Semaphore``) and model limits, handed out in order;
- ``genlock``: the generation lock (``flock``, or the store's lease on object storage);
- ``generation``: one generation on an event loop (``StageRunner.arun``);
- ``driver``: ``GenerationEngine``, what the generations of one event loop share.

Nothing is imported here eagerly: ``daydream.runner`` imports ``quota`` and ``genlock``, and
``driver`` imports the runner.
"""
