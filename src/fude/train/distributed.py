"""Multi-process training with PyTorch's own engine (``torch.distributed``, DistributedDataParallel).

Started by ``torchrun``, which sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``
and the rendezvous address in each process's environment::

    torchrun --nproc-per-node 2 -m fude train --dataset mnist --out runs/ddp          # one machine
    torchrun --nnodes 2 --node-rank 0 --nproc-per-node 2 \\
        --rdzv-backend c10d --rdzv-endpoint HOST0:29500 -m fude train ... --out /shared/runs/ddp

Backends: gloo on CPU, NCCL on CUDA (one GPU per process, ``cuda:LOCAL_RANK``). Without these
variables everything here is a no-op for a single process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0  # 0..size-1 over all machines; rank 0 writes the run folder
    size: int = 1
    local_rank: int = 0  # on this machine
    local_size: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.size > 1


def world_from_env() -> World:
    """The world ``torchrun`` describes in the environment (a single process if it does not)."""
    env = os.environ
    size = int(env.get("WORLD_SIZE", 1))
    return World(int(env.get("RANK", 0)), size, int(env.get("LOCAL_RANK", 0)), int(env.get("LOCAL_WORLD_SIZE", size)))


def init(device: torch.device) -> World:
    """Join the process group (once per process) when started by torchrun; returns the world.

    Raises:
        ValueError: fewer CUDA devices on this machine than processes asked to use them.
    """
    world = world_from_env()
    if world.active and not dist.is_initialized():
        if device.type == "cuda":
            if world.local_rank >= torch.cuda.device_count():
                raise ValueError(f"process {world.local_rank} on this machine has no GPU: {torch.cuda.device_count()} "
                                 f"GPU(s) here for {world.local_size} processes")
            torch.cuda.set_device(world.local_rank)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return world


def local_device(device: torch.device, world: World) -> torch.device:
    """CUDA processes each take their own GPU, ``cuda:LOCAL_RANK``; CPU stays CPU."""
    if world.active and device.type == "cuda":
        return torch.device("cuda", world.local_rank)
    return device


def barrier(world: World) -> None:
    if world.active and dist.is_initialized():
        dist.barrier()


def sum_all(t: torch.Tensor, world: World) -> torch.Tensor:
    """The sum of ``t`` over all processes (in place; ``t`` itself for a single process)."""
    if world.active:
        dist.all_reduce(t)
    return t


def from_main(obj, world: World):
    """Rank 0's ``obj`` on every process (pickled in memory over the process group, never from a file)."""
    if not world.active:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def shutdown(world: World) -> None:
    if world.active and dist.is_initialized():
        dist.destroy_process_group()
