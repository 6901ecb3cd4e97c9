"""Trains a tiny regressor with mmkit.training.train; run by tests/test_training.py as

    ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes N tests/accelerate_train_script.py OUTPUT_DIR

(``accelerate launch --cpu --num_processes 2`` starts a single process in accelerate 1.x -- its simple launcher
spawns one unless mpirun is configured -- so the CPU run goes through the torchrun launcher with CPU forced.)

The per-process batch is 16 // N, so one optimizer step always sees the same 16 examples whatever N is: the final
weights (OUTPUT_DIR/model/model.safetensors) and the history (OUTPUT_DIR/history.json) must not depend on N.
"""

import json
import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from accelerate import PartialState
from torch import nn
from torch.utils.data import TensorDataset

from mmkit.training import TrainConfig, train


def main(output_dir: str) -> None:
    # Read from the launcher's environment: creating a PartialState before train() would freeze a
    # non-distributed state (PartialState() ignores ACCELERATE_USE_CPU, Accelerator() reads it).
    processes = int(os.environ.get("WORLD_SIZE", "1"))
    torch.manual_seed(0)  # same data and the same initial weights in every process
    x = torch.randn(64, 4)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1 * torch.randn(64, 1)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    config = TrainConfig(epochs=3, lr=0.1, batch_size=16 // processes, warmup_ratio=0.2, seed=0,
                         output_dir=output_dir)
    history = train(model, TensorDataset(x, y), TensorDataset(x[:16], y[:16]), config,
                    loss_fn=lambda m, batch: F.mse_loss(m(batch[0]), batch[1]))
    state = PartialState()  # initialised by train() by now: reports the real process count
    if state.is_main_process:
        (Path(output_dir) / "history.json").write_text(json.dumps({"processes": state.num_processes,
                                                                   "history": history}))


if __name__ == "__main__":
    main(sys.argv[1])
