"""The CUDA code paths that a CPU machine can check: device resolution, the precision chosen for a
GPU, the process-group backend and each process's GPU under torchrun (torch's CUDA queries and the
process group mocked; the real run is bench/gpu.sh on a lent GPU machine)."""

import pytest
import torch

from fude.runtime import resolve_device, resolve_precision, set_threads
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
