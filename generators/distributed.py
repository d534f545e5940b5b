"""Data-parallel training on one machine: one process per GPU (NCCL), or per CPU share (gloo).

Every process builds the same model from the same seed (and takes rank 0's weights to be sure),
draws its own share of each batch with its own random stream, and before every optimiser step
the gradients are averaged across processes with one all-reduce. So every process applies the
same update and the replicas stay identical: the averaged gradient of B/world rows on each of
world processes is the gradient of a B-row batch.

Why an all-reduce of our own rather than ``DistributedDataParallel``: the WGAN-GP critic's
gradient penalty differentiates through the critic twice (``create_graph=True``), which DDP's
reducer does not support. Averaging after ``backward`` is what DDP does for a plain step.

``launch`` runs a function on ``world`` fresh processes (``spawn``: safe with CUDA) and returns
their results; a failure in any of them fails the call with that process's traceback.
"""

from __future__ import annotations

import hashlib
import os
import queue
import socket
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

TIMEOUT_S = 600.0  # a process that neither reports nor exits for this long fails the launch


@dataclass(frozen=True)
class Group:
    """This process's place in a data-parallel training."""

    rank: int
    world: int
    device: torch.device

    def broadcast(self, modules: Iterable[torch.nn.Module]) -> None:
        """Every replica takes rank 0's weights and buffers."""
        for module in modules:
            for tensor in module.state_dict().values():
                dist.broadcast(tensor, src=0)

    def average_gradients(self, module: torch.nn.Module) -> None:
        """Replace each gradient by its mean over the processes (one flat all-reduce)."""
        params = [p for p in module.parameters() if p.requires_grad]
        for p in params:  # the same buffer layout on every rank, even where a grad is missing
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        flat = torch.cat([p.grad.reshape(-1) for p in params])
        dist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for p in params:
            n = p.numel()
            p.grad.copy_(flat[offset : offset + n].view_as(p.grad))
            offset += n

    def average_buffers(self, module: torch.nn.Module) -> None:
        """Batch-norm running statistics differ by each process's rows: keep their mean, so
        the replicas stay identical (DDP would copy rank 0's instead)."""
        for tensor in module.buffers():
            if tensor.is_floating_point():
                dist.all_reduce(tensor)
                tensor /= self.world
            else:
                dist.broadcast(tensor, src=0)

    def mean(self, values: np.ndarray) -> np.ndarray:
        """The element-wise mean of a small array over the processes (loss reports)."""
        tensor = torch.as_tensor(np.asarray(values, dtype=np.float64), device=self.device)
        dist.all_reduce(tensor)
        return (tensor / self.world).cpu().numpy()


_current: Group | None = None


def current() -> Group | None:
    """The group this process trains in, or None outside a data-parallel launch."""
    return _current


def fingerprint(modules: Iterable[torch.nn.Module]) -> str:
    """A hash of the weights: equal on every rank when the replicas stayed in step."""
    digest = hashlib.sha256()
    for module in modules:
        for name, tensor in sorted(module.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch(
    world: int,
    fn: Callable[..., Any],
    *args: Any,
    on_message: Callable[[Any], None] | None = None,
) -> list[Any]:
    """Run ``fn(*args, send)`` in ``world`` processes joined in one group; their return values,
    by rank. ``send(obj)`` passes a message to ``on_message`` in this process (progress)."""
    if world < 2:
        raise ValueError(f"data parallel needs at least 2 processes, got {world}")
    cuda = torch.cuda.is_available()
    if cuda and torch.cuda.device_count() < world:
        raise ValueError(
            f"data parallel over {world} processes needs {world} GPUs; this machine has "
            f"{torch.cuda.device_count()}"
        )
    context = mp.get_context("spawn")
    inbox = context.Queue()
    address = f"tcp://127.0.0.1:{_free_port()}"
    processes = [
        context.Process(
            target=_run_rank, args=(rank, world, address, cuda, fn, args, inbox), daemon=True
        )
        for rank in range(world)
    ]
    for process in processes:
        process.start()
    results: dict[int, Any] = {}
    try:
        while len(results) < world:
            try:
                kind, rank, payload = inbox.get(timeout=TIMEOUT_S)
            except queue.Empty:
                raise RuntimeError(
                    f"data-parallel training: no word from any process in {TIMEOUT_S:.0f} s"
                ) from None
            if kind == "message" and on_message is not None:
                on_message(payload)
            elif kind == "error":
                raise RuntimeError(f"data-parallel training failed in process {rank}:\n{payload}")
            elif kind == "done":
                results[rank] = payload
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()
    return [results[rank] for rank in range(world)]


def _run_rank(
    rank: int,
    world: int,
    address: str,
    cuda: bool,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    inbox: Any,
) -> None:
    global _current
    try:
        if cuda:
            torch.cuda.set_device(rank)
            device = torch.device("cuda", rank)
        else:
            device = torch.device("cpu")
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
        dist.init_process_group(
            "nccl" if cuda else "gloo", init_method=address, rank=rank, world_size=world
        )
        _current = Group(rank=rank, world=world, device=device)
        try:
            result = fn(*args, lambda obj: inbox.put(("message", rank, obj)))
        finally:
            dist.destroy_process_group()
            _current = None
        inbox.put(("done", rank, result))
    except BaseException:  # noqa: BLE001 - reported to the launcher, which raises it
        inbox.put(("error", rank, traceback.format_exc()))
