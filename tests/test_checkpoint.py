"""lrnotes.checkpoint: the file (marker, checksum, atomic write), verification before anything
is loaded, the target checks, the RNG and loader position."""

from __future__ import annotations

import json
import os
import random
import stat

import numpy as np
import pytest
import torch
from torch import nn

from lrnotes import checkpoint as ckpt
from lrnotes.checkpoint import CheckpointError, Position
from lrnotes.monitor import History
from lrnotes.schedules import attach, cosine


def net(hidden: int = 8, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, hidden), nn.ReLU(), nn.Linear(hidden, 2))


def trained(optimizer_cls=torch.optim.SGD, hidden: int = 8, scheduler: str = "step"):
    """A model, optimizer (with state), scheduler and history after two updates."""
    model = net(hidden)
    kwargs = {"momentum": 0.9} if optimizer_cls is torch.optim.SGD else {}
    opt = optimizer_cls(model.parameters(), lr=0.1, **kwargs)
    sched = (torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5) if scheduler == "step"
             else attach(opt, cosine(total_steps=10)))
    history = History()
    for t in range(2):
        loss = model(torch.randn(4, 3)).square().mean()
        loss.backward()
        opt.step()
        opt.zero_grad()
        sched.step()
        history.record_step(t, [0.1], loss.detach(), torch.tensor(1.0))
    history.record_epoch(epoch=1, step=2, train_loss=0.5)
    return model, opt, sched, history


def snapshot(*objects) -> list:
    """Deep copies of the objects' state dicts, to prove nothing changed."""
    return [torch.utils._pytree.tree_map(
        lambda x: x.clone() if isinstance(x, torch.Tensor) else x, o.state_dict())
        for o in objects]


def assert_same(a, b) -> None:
    flat_a, spec_a = torch.utils._pytree.tree_flatten(a)
    flat_b, spec_b = torch.utils._pytree.tree_flatten(b)
    assert spec_a == spec_b
    for x, y in zip(flat_a, flat_b, strict=True):
        assert torch.equal(x, y) if isinstance(x, torch.Tensor) else x == y


def written(tmp_path, **kwargs):
    model, opt, sched, history = trained(**kwargs)
    path = tmp_path / "ck.pt"
    ckpt.save(ckpt.capture(model, opt, sched, None, history, epoch=1, batches_per_epoch=5,
                           rng=[ckpt.rng_state()], epoch_rng=[ckpt.rng_state()]), path)
    return path, (model, opt, sched, history)


# --- the file -------------------------------------------------------------------------------


def test_round_trip_keeps_every_piece_and_the_file_says_what_it_is(tmp_path):
    path, (model, opt, sched, history) = written(tmp_path)
    data = path.read_bytes()
    assert data.startswith(ckpt.MAGIC)
    header = json.loads(data[len(ckpt.MAGIC):data.index(b"\n", len(ckpt.MAGIC))])
    assert header["format"] == ckpt.FORMAT and header["version"] == ckpt.VERSION
    state = ckpt.load(path)
    assert_same(state["model"], model.state_dict())
    assert_same(state["optimizer"], opt.state_dict())
    assert state["scheduler"] == sched.state_dict()
    assert state["history"] == history.state_dict()
    assert state["optimizer_class"] == "torch.optim.sgd.SGD"
    assert (state["epoch"], state["batch"], state["batches_per_epoch"]) == (1, 0, 5)


def test_every_flipped_byte_is_detected(tmp_path):
    path, _ = written(tmp_path)
    data = path.read_bytes()
    rng = np.random.default_rng(0)
    positions = [0, len(ckpt.MAGIC) + 5, *rng.integers(len(ckpt.MAGIC), len(data), 40).tolist(),
                 len(data) - 1]
    for i in positions:
        bad = bytearray(data)
        bad[i] ^= 0x10
        path.write_bytes(bytes(bad))
        with pytest.raises(CheckpointError, match="not an lrnotes checkpoint: .*ck.pt"):
            ckpt.load(path)


@pytest.mark.parametrize("cut", [0, 5, len(ckpt.MAGIC) + 3, -1000, -1])
def test_truncated_files_name_the_file_and_why(tmp_path, cut):
    path, _ = written(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:cut])
    why = "empty" if cut == 0 else "truncated|damaged"
    with pytest.raises(CheckpointError, match=f"not an lrnotes checkpoint: {path} .*({why})"):
        ckpt.load(path)


def test_garbage_a_plain_state_dict_and_a_missing_file_are_not_checkpoints(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(os.urandom(300))
    with pytest.raises(CheckpointError, match=r"garbage.pt \(no lrnotes marker"):
        ckpt.load(garbage)
    plain = tmp_path / "plain.pt"
    torch.save(net().state_dict(), plain)
    with pytest.raises(CheckpointError, match=r"plain.pt \(a plain torch.save file"):
        ckpt.load(plain)
    with pytest.raises(CheckpointError, match="cannot read"):
        ckpt.load(tmp_path / "missing.pt")
    assert issubclass(CheckpointError, ValueError)


def test_another_version_and_a_payload_without_the_keys_are_refused(tmp_path):
    path, _ = written(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data.replace(b'"version": 2', b'"version": 9', 1))
    with pytest.raises(CheckpointError, match="version 9"):
        ckpt.load(path)
    ckpt.save({"model": {}}, path)
    with pytest.raises(CheckpointError, match="lacks"):
        ckpt.load(path)


def test_save_fsyncs_file_and_folder_and_removes_stale_temporaries(tmp_path, monkeypatch):
    stale = tmp_path / ".ck.pt.k3j4h5.tmp"  # left by a write that was killed
    other = tmp_path / ".other.pt.abc.tmp"  # another target's: not ours to remove
    stale.write_bytes(b"half")
    other.write_bytes(b"half")
    synced = []
    real_fsync = os.fsync

    def spy(fd):
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    written(tmp_path)
    assert synced == [False, True]  # the file, then its folder after os.replace
    assert sorted(os.listdir(tmp_path)) == [".other.pt.abc.tmp", "ck.pt"]


def test_a_failed_replace_leaves_the_old_checkpoint_and_no_temporary(tmp_path, monkeypatch):
    path, _ = written(tmp_path)
    good = path.read_bytes()

    def broken(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", broken)
    model, opt, sched, history = trained()
    with pytest.raises(OSError, match="disk gone"):
        ckpt.save(ckpt.capture(model, opt, sched, None, history, epoch=2), path)
    assert path.read_bytes() == good and os.listdir(tmp_path) == ["ck.pt"]


def test_check_target_refuses_directories_existing_files_and_unwritable_folders(tmp_path):
    with pytest.raises(ValueError, match="checkpoint: .* is a directory"):
        ckpt.check_target(tmp_path, may_exist=True)
    path, _ = written(tmp_path)
    with pytest.raises(ValueError, match="already exists; pass resume=True .* overwrite=True"):
        ckpt.check_target(path, may_exist=False)
    assert ckpt.check_target(path, may_exist=True) == str(path)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ValueError, match="checkpoint: cannot write to"):
        ckpt.check_target(blocker / "ck.pt", may_exist=False)
    with pytest.raises(TypeError, match="checkpoint"):
        ckpt.check_target(3, may_exist=False)
    before = sorted(os.listdir(tmp_path))
    assert ckpt.check_target(tmp_path / "new" / "deeper" / "ck.pt", may_exist=False)
    assert sorted(os.listdir(tmp_path)) == before  # no folder made, the write probe gone
    (tmp_path / "locked").mkdir()
    os.chmod(tmp_path / "locked", stat.S_IRUSR | stat.S_IXUSR)
    try:
        if not os.access(tmp_path / "locked", os.W_OK):  # root writes anywhere
            with pytest.raises(ValueError, match="checkpoint: cannot write to .*locked"):
                ckpt.check_target(tmp_path / "locked" / "new" / "ck.pt", may_exist=False)
    finally:
        os.chmod(tmp_path / "locked", stat.S_IRWXU)


def test_hold_creates_missing_folders_and_removes_them_when_left_empty(tmp_path):
    path = tmp_path / "a" / "b" / "ck.pt"
    with ckpt.hold(path):
        assert os.listdir(tmp_path / "a" / "b") == ["ck.pt.lock"]
    assert os.listdir(tmp_path) == []  # nothing written: the folders go with the lock file
    with ckpt.hold(path):
        ckpt.save({"x": 1}, path)
    assert os.listdir(tmp_path / "a" / "b") == ["ck.pt"]  # a folder with a checkpoint stays
    (tmp_path / "c").mkdir()
    with ckpt.hold(tmp_path / "c" / "d" / "ck.pt"):
        pass
    assert os.listdir(tmp_path / "c") == []  # a folder that was there stays


# --- verification -----------------------------------------------------------------------------


def test_verify_refuses_a_model_of_another_shape_and_changes_nothing(tmp_path):
    path, _ = written(tmp_path)
    state = ckpt.load(path)
    model, opt, sched, history = trained(hidden=9)
    before = snapshot(model, opt, sched)
    with pytest.raises(CheckpointError, match=r"does not fit the model: 0.weight has shape "
                                              r"\(8, 3\) in the checkpoint, \(9, 3\)"):
        ckpt.verify(state, path, model=model, optimizer=opt, scheduler=sched)
    for a, b in zip(before, snapshot(model, opt, sched), strict=True):
        assert_same(a, b)
    with pytest.raises(CheckpointError, match="keys"):
        ckpt.verify(state, path, model=nn.Linear(3, 2), optimizer=opt, scheduler=sched)


def test_verify_refuses_foreign_optimizer_scheduler_amp_and_loader(tmp_path):
    path, _ = written(tmp_path)
    state = ckpt.load(path)
    model, opt, sched, history = trained()
    ckpt.verify(state, path, model=model, optimizer=opt, scheduler=sched, history=history)
    adam = trained(torch.optim.Adam)
    with pytest.raises(CheckpointError, match="optimizer: it holds torch.optim.sgd.SGD state, "
                                              "the optimizer is torch.optim.adam.Adam"):
        ckpt.verify(state, path, model=adam[0], optimizer=adam[1], scheduler=adam[2])
    scheduled = trained(scheduler="lrnotes")
    with pytest.raises(CheckpointError, match="scheduler: it holds .*StepLR state, the "
                                              "scheduler is lrnotes.schedules.ScheduledLR"):
        ckpt.verify(state, path, model=model, optimizer=scheduled[1], scheduler=scheduled[2])
    with pytest.raises(CheckpointError, match="scheduler: it was written with .*StepLR, "
                                              "resumed with no scheduler"):
        ckpt.verify(state, path, model=model, optimizer=opt, scheduler=None)
    with pytest.raises(CheckpointError, match="amp"):
        ckpt.verify(state, path, model=model, optimizer=opt, scheduler=sched,
                    scaler=torch.amp.GradScaler("cpu"))
    with pytest.raises(CheckpointError, match="train_loader"):
        ckpt.verify(state, path, model=model, optimizer=opt, scheduler=sched,
                    generators=[torch.Generator()])
    with pytest.raises(CheckpointError, match="epochs"):
        ckpt.verify(state, path, model=model, optimizer=opt, scheduler=sched, epochs=0)
    two_groups = torch.optim.SGD([{"params": model[0].parameters()},
                                 {"params": model[2].parameters()}], lr=0.1, momentum=0.9)
    with pytest.raises(CheckpointError, match="1 param groups in the checkpoint, 2"):
        ckpt.verify(state, path, model=model, optimizer=two_groups, scheduler=None)


def _stepped(opt_factory):
    model = net()
    opt = opt_factory(model.parameters())
    model(torch.randn(4, 3)).square().mean().backward()
    opt.step()
    return model, opt


@pytest.mark.parametrize("make", [
    lambda params: torch.optim.Adafactor(params, lr=0.01),  # row/column statistics (8, 1), (1, 3)
    lambda params: pytest.importorskip("prodigyopt").Prodigy(params, lr=1.0),  # flat s and p0
    lambda params: pytest.importorskip("prodigyopt").Prodigy(params, lr=1.0, slice_p=5),
], ids=["adafactor", "prodigy", "prodigy-slice_p"])
def test_verify_accepts_optimizer_states_derived_from_the_parameter(tmp_path, make):
    """An optimizer's state need not have its parameter's shape (Adafactor's factored second
    moment, Prodigy's flattened and strided copies): verify and restore accept them, and a
    resumed fit with them is exact (tests/test_schedulefree_contract.py). Before, verify
    refused every one: 'state 's' of parameter 0 has shape (24,), the parameter (8, 3)'."""
    model, opt = _stepped(make)
    path = tmp_path / "ck.pt"
    ckpt.save(ckpt.capture(model, opt, None, None, History(), epoch=1), path)
    other = net(seed=1)
    other_opt = make(other.parameters())
    ckpt.restore(ckpt.load(path), path, model=other, optimizer=other_opt)
    assert_same(other_opt.state_dict(), opt.state_dict())


def test_verify_refuses_the_state_of_another_parameter(tmp_path):
    model, opt = _stepped(lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9))
    path = tmp_path / "ck.pt"
    state = ckpt.capture(model, opt, None, None, History(), epoch=1)
    buffers = state["optimizer"]["state"]
    # weights (8, 3) and (2, 8): swapped, neither fits the other
    swapped = {**buffers, 0: buffers[2], 2: buffers[0]}
    # a flat state larger than its parameter: the first bias's (8,) on the last bias (2,)
    larger = {**buffers, 3: buffers[1]}
    for states, match in [(swapped, r"state 'momentum_buffer' of parameter 0 has shape \(2, 8\), "
                                    r"the parameter \(8, 3\)"),
                          (larger, r"parameter 3 has shape \(8,\), the parameter \(2,\)")]:
        bad = {**state, "optimizer": {**state["optimizer"], "state": states}}
        before = snapshot(model, opt)
        with pytest.raises(CheckpointError, match=match):
            ckpt.verify(bad, path, model=model, optimizer=opt)
        for a, b in zip(before, snapshot(model, opt), strict=True):
            assert_same(a, b)


def test_verify_refuses_a_mid_epoch_position_in_a_loader_of_another_length(tmp_path):
    model, opt, sched, history = trained()
    path = tmp_path / "ck.pt"
    rng = ckpt.rng_state()
    ckpt.save(ckpt.capture(model, opt, sched, None, history, epoch=1, batch=3,
                           batches_per_epoch=5, rng=[rng], epoch_rng=[rng]), path)
    state = ckpt.load(path)
    ckpt.verify(state, path, model=model, optimizer=opt, scheduler=sched, batches_per_epoch=5)
    with pytest.raises(CheckpointError, match="stopped after batch 3 of 5 in epoch 2; the "
                                              "loader now has 2 batches"):
        ckpt.verify(state, path, model=model, optimizer=opt, scheduler=sched,
                    batches_per_epoch=2)


def test_verify_checks_the_history_state(tmp_path):
    path, _ = written(tmp_path)
    state = ckpt.load(path)
    state["history"] = {}
    model, opt, sched, history = trained()
    with pytest.raises(CheckpointError, match="history: state: missing keys"):
        ckpt.verify(state, path, model=model, optimizer=opt, scheduler=sched, history=history)


def test_restore_after_verify_gives_the_saved_objects(tmp_path):
    path, (model, opt, sched, history) = written(tmp_path)
    state = ckpt.load(path)
    other, other_opt, other_sched, other_history = trained()
    with torch.no_grad():
        for p in other.parameters():
            p.zero_()
    fresh = History()
    ckpt.verify(state, path, model=other, optimizer=other_opt, scheduler=other_sched,
                history=fresh)
    ckpt.restore(state, model=other, optimizer=other_opt, scheduler=other_sched, history=fresh)
    assert_same(other.state_dict(), model.state_dict())
    assert_same(other_opt.state_dict(), opt.state_dict())
    assert other_sched.state_dict() == sched.state_dict()
    assert fresh.state_dict() == history.state_dict()


# --- RNG and loader position ------------------------------------------------------------------


def test_rng_state_round_trip_covers_torch_numpy_python_and_generators():
    g = torch.Generator().manual_seed(5)
    state = ckpt.rng_state([g])
    draws = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(3, generator=g))
    ckpt.set_rng_state(state, [g])
    again = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(3, generator=g))
    assert torch.equal(draws[0], again[0]) and np.array_equal(draws[1], again[1])
    assert draws[2] == again[2] and torch.equal(draws[3], again[3])
    with pytest.raises(ValueError, match="generators"):
        ckpt.set_rng_state(state, [])


def test_position_tracks_only_after_updates_and_resumes_at_the_same_batch():
    loader = [torch.tensor([i]) for i in range(5)]
    position = Position([], track=True, batches_per_epoch=5)
    batches, sums, count = position.open(loader, epoch=0)
    assert position.resumable and position.where()["batch"] == 0
    next(batches)
    position.leave()
    assert not position.resumable
    position.advance(1, torch.ones(1), 4)
    where = position.where()
    assert (where["epoch"], where["batch"], where["count"]) == (0, 1, 4)
    where["sums"] = where["sums"].clone()
    batches, sums, count = position.open(loader, 0, resumed=where)
    assert next(batches).item() == 1 and count == 4 and torch.equal(sums, torch.ones(1))
    with pytest.raises(ValueError, match="train_loader: ended after 2 batches while skipping "
                                         "the 3"):
        position.open(loader[:2], 0, resumed={**where, "batch": 3})
    untracked = Position([], track=False)
    untracked.open(loader, 0)
    untracked.advance(1, None, 1)
    assert not untracked.resumable
    with pytest.raises(RuntimeError, match="resumable"):
        untracked.where()


def test_position_keeps_the_models_buffers_of_the_resume_point():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    position = Position([], track=True, batches_per_epoch=5, model=model)
    position.open([torch.zeros(1)] * 5, epoch=0)
    model(torch.randn(8, 3))  # a forward pass after the point moves the running statistics
    position.advance(1, None, 8)
    at_point = {k: v.clone() for k, v in model.state_dict().items()}
    model(torch.randn(8, 3))  # the next batch's forward pass, then Ctrl-C
    saved = ckpt.capture(model, opt, None, None, History(), **position.where())["model"]
    assert not torch.equal(model[1].running_mean, at_point["1.running_mean"])
    for key, value in at_point.items():
        assert torch.equal(saved[key], value), key
    with torch.no_grad():  # a restore loads other buffers into the model: taken again
        model[1].running_mean.fill_(3.0)
    position.retake_buffers()
    assert torch.equal(position.where()["buffers"]["1.running_mean"], torch.full((4,), 3.0))


def test_a_write_killed_midway_leaves_the_old_checkpoint_and_the_next_write_cleans_up(tmp_path):
    import signal
    import subprocess
    import sys

    path, _ = written(tmp_path)
    good = path.read_bytes()
    script = tmp_path / "slow_save.py"
    script.write_text(
        "import os, sys, time, torch\n"
        "from lrnotes import checkpoint\n"
        "real = os.fsync\n"
        "def slow(fd):\n"
        "    print('writing', flush=True); time.sleep(60)\n"
        "os.fsync = slow\n"
        "checkpoint.save({'model': torch.zeros(1000)}, sys.argv[1])\n")
    proc = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "writing"  # the payload is in the temporary
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    leftovers = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    assert len(leftovers) == 1 and leftovers[0].startswith(".ck.pt.")
    assert path.read_bytes() == good
    ckpt.load(path)
    written(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["ck.pt", "slow_save.py"]
