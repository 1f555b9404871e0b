"""fit under torch.distributed: two CPU processes (gloo) train exactly as one process on the
combined batches; only rank 0 writes TensorBoard logs and checkpoints."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.distributed as dist

from lrnotes import checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()),
                                reason="torch.distributed with gloo is not available")

SCRIPT = textwrap.dedent('''
    import os, socket, sys
    import torch, torch.distributed as dist, torch.multiprocessing as mp
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset
    from lrnotes.train import accuracy, fit

    def data():
        g = torch.Generator().manual_seed(0)
        x = torch.randn(64, 4, generator=g)
        return TensorDataset(x, (x.sum(1) > 0).long())

    def train(batch_size, folder, accumulation_steps=1):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
        opt = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
        history = fit(model, DataLoader(data(), batch_size=batch_size), opt,
                      nn.CrossEntropyLoss(), 2, val_loader=DataLoader(data(), batch_size=16),
                      scheduler=sched, clip=0.5, metrics={"acc": accuracy}, progress=False,
                      accumulation_steps=accumulation_steps,
                      writer=f"{folder}/tb", checkpoint=f"{folder}/ck.pt", log_every=3)
        return {"params": [p.detach().clone() for p in model.parameters()],
                "history": history.state_dict()}

    def worker(rank, world, port, folder):
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        dist.init_process_group("gloo", rank=rank, world_size=world)
        result = train(8, f"{folder}/ddp")  # 2 ranks x 8 = the single process's 16
        torch.save(result, f"{folder}/rank{rank}.pt")
        result = train(4, f"{folder}/ddp_acc", accumulation_steps=2)  # 2 x 2 x 4 = 16
        torch.save(result, f"{folder}/acc_rank{rank}.pt")
        dist.destroy_process_group()

    if __name__ == "__main__":
        folder = sys.argv[1]
        torch.save(train(16, f"{folder}/single"), f"{folder}/single.pt")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        # fork: the workers reuse this process's imports (OMP_NUM_THREADS=1: no thread pool)
        mp.start_processes(worker, args=(2, port, folder), nprocs=2, start_method="fork")
''')


def test_two_gloo_processes_match_one_process_on_the_combined_batches(tmp_path):
    script = tmp_path / "ddp_script.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(script), str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-4000:]
    single = torch.load(tmp_path / "single.pt", weights_only=False)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1)]
    accumulated = [torch.load(tmp_path / f"acc_rank{r}.pt", weights_only=False) for r in (0, 1)]
    for rank in ranks + accumulated:
        for a, b in zip(single["params"], rank["params"], strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    h1, h0, hr = single["history"], ranks[0]["history"], ranks[1]["history"]
    assert h0["step"] == h1["step"] == accumulated[0]["history"]["step"] == list(range(8))
    assert h0["lr"] == h1["lr"]
    # the per-update loss is averaged over ranks; epoch values are reduced over all samples
    torch.testing.assert_close(torch.tensor(h0["loss"]), torch.tensor(h1["loss"]))
    torch.testing.assert_close(torch.tensor(h0["grad_norm"]), torch.tensor(h1["grad_norm"]))
    for key in ("train_loss", "val_loss", "val_acc"):
        torch.testing.assert_close(torch.tensor(h0["epochs"][key]),
                                   torch.tensor(h1["epochs"][key]))
    assert h0["loss"] == hr["loss"]  # every rank returns the same history
    # only rank 0 wrote: one event file, one checkpoint of the unwrapped model
    assert len(os.listdir(tmp_path / "ddp" / "tb")) == 1
    state = checkpoint.load(tmp_path / "ddp" / "ck.pt")
    assert state["epoch"] == 2 and len(state["rng"]) == 2
    assert set(state["model"]) == {"0.weight", "0.bias", "2.weight", "2.bias"}
