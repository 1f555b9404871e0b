"""fit under torch.distributed: two CPU processes (gloo) train exactly as one process on the
combined batches; only rank 0 writes TensorBoard logs and checkpoints.

The test cannot hang the suite: the script runs in its own session and is killed with both
ranks (the whole process group) after ``TIMEOUT`` seconds; each rank dumps its Python stack
a few seconds before that, so the failure says where it was stuck. The process group has a
collective timeout, and the ranks meet at a barrier before ``destroy_process_group``, so
neither tears the group down while the other still uses it (issue 18)."""

from __future__ import annotations

import os
import signal
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

TIMEOUT = 240  # seconds for the whole script; it takes about 15 s on one idle core

SCRIPT = textwrap.dedent('''
    import datetime, faulthandler, os, socket, sys
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
                      scheduler=sched, step_scheduler="batch", clip=0.5,
                      metrics={"acc": accuracy}, progress=False,
                      accumulation_steps=accumulation_steps,
                      writer=f"{folder}/tb", checkpoint=f"{folder}/ck.pt", log_every=3)
        return {"params": [p.detach().clone() for p in model.parameters()],
                "history": history.state_dict()}

    def worker(rank, world, port, folder, stack_after):
        faulthandler.dump_traceback_later(stack_after, exit=False)  # where a stuck rank is
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        dist.init_process_group("gloo", rank=rank, world_size=world,
                                timeout=datetime.timedelta(seconds=stack_after))
        result = train(8, f"{folder}/ddp")  # 2 ranks x 8 = the single process's 16
        torch.save(result, f"{folder}/rank{rank}.pt")
        result = train(4, f"{folder}/ddp_acc", accumulation_steps=2)  # 2 x 2 x 4 = 16
        torch.save(result, f"{folder}/acc_rank{rank}.pt")
        dist.barrier()  # rank 0 writes checkpoints: no rank tears down while another works
        dist.destroy_process_group()
        faulthandler.cancel_dump_traceback_later()

    if __name__ == "__main__":
        folder, stack_after = sys.argv[1], float(sys.argv[2])
        torch.save(train(16, f"{folder}/single"), f"{folder}/single.pt")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        # fork: the workers reuse this process's imports (OMP_NUM_THREADS=1: no thread pool)
        mp.start_processes(worker, args=(2, port, folder, stack_after), nprocs=2,
                           start_method="fork")
''')


def run_killable(command: list[str], timeout: float) -> tuple[int, str]:
    """Run ``command`` in a session of its own; past ``timeout`` seconds kill the session
    (the launcher and every rank it forked) and fail, showing the stacks the ranks dumped.
    ``subprocess.run(timeout=)`` kills only the launcher: the ranks it forked live on,
    stuck, and its error does not say where they were stuck."""
    env = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, stderr = proc.communicate()
        pytest.fail(f"the DDP script did not finish in {timeout} s, so its session (the "
                    "launcher and both ranks) was killed; the ranks' stacks, dumped before "
                    f"that, show where they were stuck:\n{stderr[-6000:]}")
    return proc.returncode, stderr


def test_a_stuck_script_is_killed_with_its_children_and_the_failure_says_why(tmp_path):
    script = tmp_path / "stuck.py"
    script.write_text(textwrap.dedent('''
        import faulthandler, os, sys, time
        faulthandler.dump_traceback_later(1, exit=False)
        if os.fork() == 0:  # a child that would outlive a killed parent and hold the pipes
            time.sleep(600)
        time.sleep(600)
    '''))
    with pytest.raises(pytest.fail.Exception, match="was killed") as err:
        run_killable([sys.executable, str(script)], timeout=3)
    assert 'stuck.py", line 6' in str(err.value)  # the stack the script dumped


def test_two_gloo_processes_match_one_process_on_the_combined_batches(tmp_path):
    script = tmp_path / "ddp_script.py"
    script.write_text(SCRIPT)
    returncode, stderr = run_killable([sys.executable, str(script), str(tmp_path),
                                       str(TIMEOUT - 30)], TIMEOUT)
    assert returncode == 0, stderr[-4000:]
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
