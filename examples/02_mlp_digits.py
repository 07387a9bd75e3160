"""Step 02: the Module / optimizer loop, written out, on the embedded 8x8 digits.

    model  = Sequential(Linear(64, 256), ReLU(), Linear(256, 10))
    loss   = cross_entropy(model(x), y)         # -log softmax(z)[y]
    loss.backward(); opt.step(); opt.zero_grad()

No trainer, no magic: every line of a training loop is here. It prints the test
accuracy, saves the loss curve and a grid of the test digits it gets wrong.
``python -m minigen train mlp`` runs the same kind of model through the run layer
(run folder, checkpoints, resume).

Run:  python examples/02_mlp_digits.py [--epochs 30] [--out runs/02_mlp]
"""
import argparse
import os

import numpy as np

from autograd import Tensor, no_grad, rng as make_rng
from minigen import nn, optim, plots
from minigen.data import BatchLoader, get_dataset


def accuracy(model, data):
    """Fraction of ``data`` classified correctly (evaluation mode, no graph)."""
    model.eval()
    with no_grad():
        logits = model(Tensor(data.x.reshape(len(data), -1).astype(np.float32) / 16))  # (N, 10)
    model.train()
    return float((logits.numpy().argmax(1) == data.y).mean())


def main(tiny=False, out_dir="runs/02_mlp", epochs=30, seed=0):
    rng = make_rng(seed)
    train, test = get_dataset("digits", "train"), get_dataset("digits", "test")
    epochs = 2 if tiny else epochs
    model = nn.Sequential(nn.Linear(64, 256, rng=rng), nn.ReLU(), nn.Linear(256, 10, rng=rng))
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loader = BatchLoader(train.x.reshape(len(train), -1), train.y, batch_size=64, rng=rng)
    print(model)

    history = []
    for epoch in range(epochs):
        for step, (x, y) in enumerate(loader):
            logits = model(Tensor(x.astype(np.float32) / 16))      # (B, 10)
            loss = nn.losses.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            history.append({"step": len(history), "epoch": epoch, "train/loss": loss.item()})
        acc = accuracy(model, test)
        history[-1]["test/accuracy"] = acc
        print(f"epoch {epoch + 1:3d}  loss {loss.item():.4f}  test accuracy {acc:.4f}")

    os.makedirs(out_dir, exist_ok=True)
    plots.curves(history, os.path.join(out_dir, "curves.png"), title="MLP on digits")
    with no_grad():
        pred = model(Tensor(test.x.reshape(len(test), -1).astype(np.float32) / 16)).numpy().argmax(1)
    wrong = np.flatnonzero(pred != test.y)[:32]
    if len(wrong):
        plots.image_grid(test.x[wrong], os.path.join(out_dir, "mistakes.png"), levels=17,
                         title="test digits the MLP gets wrong")
    print(f"saved {out_dir}/curves.png and {out_dir}/mistakes.png; test accuracy {acc:.4f}")
    return {"test_accuracy": acc}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--out", default="runs/02_mlp")
    a = p.parse_args()
    main(out_dir=a.out, epochs=a.epochs)
