"""Step 01: backprop by hand on a scalar chain, then let the engine do it.

    y = tanh(w * x + b),  loss = (y - t)^2

We compute dloss/dw by the chain rule on paper, compare with ``loss.backward()``,
print the tape (the ops backward will visit, in order), and gradcheck it.

Run:  python examples/01_backprop_by_hand.py
"""
import numpy as np

from autograd import Tensor, gradcheck, gradgradcheck, print_tape


def main(tiny=False):
    x, t = 0.5, 0.8
    w = Tensor(np.float64(1.3), requires_grad=True)
    b = Tensor(np.float64(-0.2), requires_grad=True)

    y = (w * x + b).tanh()
    loss = (y - t) ** 2

    # By hand: dloss/dy = 2 (y - t); dy/da = 1 - y^2 with a = w x + b; da/dw = x, da/db = 1
    yv = np.tanh(1.3 * x - 0.2)
    by_hand_w = 2 * (yv - t) * (1 - yv ** 2) * x
    by_hand_b = 2 * (yv - t) * (1 - yv ** 2)

    print("the tape, in the order backward runs:")
    print_tape(loss)
    loss.backward()
    print(f"\ndloss/dw: engine {w.grad.item():.10f}   by hand {by_hand_w:.10f}")
    print(f"dloss/db: engine {b.grad.item():.10f}   by hand {by_hand_b:.10f}")

    f = lambda w, b: ((w * x + b).tanh() - t) ** 2  # noqa: E731
    ok1 = gradcheck(f, [w, b])
    ok2 = gradgradcheck(f, [w, b])
    print(f"gradcheck: {ok1}   gradgradcheck (second order): {ok2}")
    assert abs(w.grad.item() - by_hand_w) < 1e-12 and abs(b.grad.item() - by_hand_b) < 1e-12
    return {"dw": w.grad.item(), "db": b.grad.item()}


if __name__ == "__main__":
    main()
