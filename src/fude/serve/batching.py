"""Many writers at once: :class:`Batcher` gathers the drawings that arrive together for one model
into small batches and reads each batch in one call
(:meth:`fude.recognizer.base.BaseRecognizer.predict_strokes_many`: rasterising, the networks'
forward passes, the priors and the ranking), on a thread of its own, off the event loop.

A batch is whatever is waiting when the previous one is done (at most ``max_batch``), plus what
arrives within ``max_wait`` seconds of its first drawing: under light load a drawing is read at once,
alone; under heavy load the drawings that queued while a batch was read go together, and a forward
pass of 16 drawings costs little more than one. This is the dynamic batching of inference servers
(e.g. NVIDIA Triton's "dynamic batcher", TorchServe's ``max_batch_delay``)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

MAX_BATCH = 16  # drawings per batch: a forward pass of `ja` on 16 takes about 4 times one's time
MAX_WAIT = 0.002  # seconds a batch's first drawing waits for company
# a drawing of more points than this is read alone, on a thread of its own, never in a batch: it costs
# up to ~10 ordinary drawings (50 strokes x 400 points: ~52 ms against ~5), which a batch would make
# every drawing in it wait for; costly drawings wait for each other instead
COSTLY_POINTS = 2_000


class Batcher:
    """Reads the drawings sent to one recognizer in batches: ``await batcher.predict_strokes(strokes,
    k=5, canvas=None, script="all", chars=None)`` answers as ``rec.predict_strokes`` does (the same
    guesses, the same errors), with the forward passes shared with the drawings that came with it.

    Args:
        rec: the recognizer (:class:`~fude.recognizer.base.BaseRecognizer`).
        max_batch: the most drawings read in one call.
        max_wait: seconds the first drawing of a batch waits for more (0: only what is already queued).
    """

    def __init__(self, rec, max_batch: int = MAX_BATCH, max_wait: float = MAX_WAIT) -> None:
        if max_batch < 1 or max_wait < 0:
            raise ValueError(f"max_batch must be at least 1 and max_wait at least 0, got {max_batch}, {max_wait}")
        self.rec, self.max_batch, self.max_wait = rec, max_batch, max_wait
        self.batches = 0  # batches read so far, and the drawings in them (for /health and benchmarks)
        self.drawings = 0
        self.costly = 0  # drawings of more than COSTLY_POINTS points, read alone
        self._costly_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fude-costly")
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fude-batch")

    async def predict_strokes(self, strokes, k: int = 5, canvas: dict | None = None, script: str = "all",
                              chars: str | None = None) -> list[dict]:
        """Top-``k`` guesses for one drawing (see the class).

        Raises:
            fude.strokes.StrokeError, ValueError: as ``rec.predict_strokes`` does.
        """
        request = {"strokes": strokes, "k": k, "canvas": canvas, "script": script, "chars": chars}
        try:
            points = sum(len(s) for s in strokes)
        except TypeError:  # not strokes: the reading says what is wrong, in a batch as any other
            points = 0
        if points > COSTLY_POINTS:
            result = (await asyncio.get_running_loop().run_in_executor(
                self._costly_pool, self.rec.predict_strokes_many, [request]))[0]
            self.costly += 1
            if isinstance(result, Exception):
                raise result
            return result
        if self._queue is None:
            self._queue = asyncio.Queue()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._serve())
        answer = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((request, answer))
        result = await answer
        if isinstance(result, Exception):
            raise result
        return result

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self.max_wait
            while len(batch) < self.max_batch:
                if not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                    continue
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), left))
                except asyncio.TimeoutError:
                    break
            live = [(req, answer) for req, answer in batch if not answer.done()]  # a client that left: skip it
            if not live:
                continue
            try:
                results = await loop.run_in_executor(self._pool, self.rec.predict_strokes_many, [r for r, _ in live])
            except Exception as e:  # a failure of the batch as a whole: each of its requests hears of it
                results = [e] * len(live)
            self.batches += 1
            self.drawings += len(live)
            for (_, answer), result in zip(live, results):
                if not answer.done():
                    answer.set_result(result)

    def close(self) -> None:
        """Stop the batching task and the thread (at the server's shutdown)."""
        if self._task is not None:
            self._task.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._costly_pool.shutdown(wait=False, cancel_futures=True)
