"""The CUDA code paths that a CPU machine can check: device resolution, the precision chosen for a
GPU, the process-group backend and each process's GPU under torchrun (torch's CUDA queries and the
process group mocked; the real run is bench/gpu.sh on a lent GPU machine)."""

import os
import subprocess
import sys
import time

import pytest
import torch

from fude.runtime import AdaptiveThreads, resolve_device, resolve_precision, set_threads
from fude.train import distributed


def test_auto_device_is_the_gpu_when_there_is_one(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="no CUDA GPU"):
        resolve_device("cuda")


@pytest.mark.parametrize("bf16, expected", [(True, "bf16"), (False, "fp32")])
def test_a_gpu_trains_in_bf16_where_it_has_it(monkeypatch, bf16, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    assert resolve_precision("auto", torch.device("cuda")) == expected
    assert resolve_precision("fp32", torch.device("cuda")) == "fp32"  # asked for: kept


@pytest.mark.parametrize("device, backend", [("cuda", "nccl"), ("cpu", "gloo")])
def test_torchrun_processes_pick_nccl_on_gpus_and_gloo_on_cpus(monkeypatch, device, backend):
    calls = {}
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(distributed.dist, "init_process_group", lambda b: calls.setdefault("backend", b))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", lambda i: calls.setdefault("gpu", i))
    world = distributed.init(torch.device(device))
    assert (world.rank, world.size, world.local_rank, world.local_size) == (3, 4, 1, 2)
    assert calls["backend"] == backend and not world.main and world.active
    if device == "cuda":
        assert calls["gpu"] == 1 and distributed.local_device(torch.device("cuda"), world) == torch.device("cuda", 1)
    else:
        assert "gpu" not in calls and distributed.local_device(torch.device("cpu"), world) == torch.device("cpu")


def test_more_gpu_processes_than_gpus_is_refused(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match="has no GPU"):
        distributed.init(torch.device("cuda"))


def test_threads_are_shared_out_and_checked():
    before = torch.get_num_threads()
    try:
        assert set_threads(1) == 1 and torch.get_num_threads() == 1
        assert set_threads(0, processes=10_000) == 1  # at least one each
        with pytest.raises(ValueError, match="--threads must be 0"):
            set_threads(-3)
    finally:
        torch.set_num_threads(before)


def test_threads_follow_a_neighbour_that_comes_and_goes(two_idle_cores):
    """A busy process started mid-run takes a core from the pool; when it ends the core comes back.
    The pool's own work does not count as a neighbour (this process spins while measured)."""
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        meter = AdaptiveThreads(interval=0.5)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 0.6:  # busy ourselves: our own CPU time is not a neighbour's
            torch.randn(256, 256) @ torch.randn(256, 256)
        assert meter.check() is None and torch.get_num_threads() == 2
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            time.sleep(1.0)
            assert meter.check() == 1 and torch.get_num_threads() == 1
        finally:
            hog.kill()
            hog.wait()
        time.sleep(1.0)
        assert meter.check() == 2 and torch.get_num_threads() == 2
        assert meter.check() is None  # at most every interval seconds
    finally:
        torch.set_num_threads(before)


def _pin(cores: set[int]) -> None:
    """Every thread of this process on ``cores`` (a subprocess started after inherits them)."""
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), cores)
        except OSError:
            pass  # a thread that just ended


@pytest.fixture()
def two_idle_cores():
    """This process, and the CPU hogs it starts, pinned to two cores (the two idlest of those it may
    use), so the thread-adapting tests measure the same 2-core machine everywhere; waits up to 15 s
    for those cores to be idle, and skips only if another program keeps them busy that long."""
    from fude import cores

    if not os.path.exists("/proc/stat") or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs Linux's /proc/stat and two cores")
    before = os.sched_getaffinity(0)
    start = cores.sample(sorted(before))
    time.sleep(0.3)
    end = cores.sample(sorted(before))
    idle = {c: (end.ticks[c][0] - start.ticks[c][0]) / max(1, end.ticks[c][1] - start.ticks[c][1]) for c in before}
    _pin(set(sorted(before, key=lambda c: -idle[c])[:2]))
    try:
        deadline = time.monotonic() + 15
        while cores.free_cores(0.3) < 1.8:
            if time.monotonic() > deadline:
                pytest.skip("another program kept this machine's cores busy for 15 s")
        yield
    finally:
        _pin(before)


def test_free_cores_leave_out_this_process_own_work(two_idle_cores):
    """A thread of this process at work (reading data ahead, say) does not make a core unfree; a
    busy neighbour does."""
    import threading

    from fude.cores import free_cores

    stop = threading.Event()

    def work() -> None:  # PyTorch lets go of Python's lock: this keeps a core busy
        while not stop.is_set():
            torch.randn(256, 256) @ torch.randn(256, 256)

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    worker = threading.Thread(target=work)
    worker.start()
    try:
        assert free_cores(0.3) > 1.7
    finally:
        stop.set()
        worker.join()
        torch.set_num_threads(before)
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        assert free_cores(0.3) < 1.3
    finally:
        hog.kill()
        hog.wait()


def test_malloc_thresholds_are_set_unless_the_user_set_them():
    code = "from fude.runtime import tune_malloc; print(tune_malloc())"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    glibc = os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") else None
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == str(bool(glibc))
    out = subprocess.run([sys.executable, "-c", code], env={**env, "MALLOC_TRIM_THRESHOLD_": "131072"},
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"  # the user's own setting stands


def test_free_cores_from_the_reading_at_start_up(monkeypatch, two_idle_cores):
    """The command's reading at start-up (fude.cores.sample, before PyTorch is imported) is what
    the free cores are measured from: nothing more to wait for once that long has passed, and a
    neighbour busy since then shows; without a readable /proc/stat, every usable core counts."""
    from fude import cores

    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.2)
        start = cores.sample()
        time.sleep(0.4)
        slept = []
        monkeypatch.setattr(cores.time, "sleep", slept.append)
        assert cores.free_cores(0.3, since=start) < 1.3 and slept == [0.0]
    finally:
        hog.kill()
        hog.wait()
    cores.free_cores(0.3, since=cores.sample())
    assert 0.29 < slept[1] <= 0.3  # a reading just taken: it waits out the rest of the 0.3 s

    def unreadable(_):
        raise OSError("no /proc/stat")

    monkeypatch.setattr(cores, "core_ticks", unreadable)
    assert cores.sample() is None and cores.free_cores(0.3) == 2.0
