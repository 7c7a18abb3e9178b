"""Training and inference throughput of the CNN block orderings and widths considered for
fude-cnn, on synthetic batches (batch 512, fp32, channels-last, all threads).

    .venv/bin/python bench/experiments/arch.py
"""

import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import save_results, table  # noqa: E402


def block(cin, cout, pool_first):
    conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
    if pool_first:  # fude-cnn: conv, pool, BN, ReLU
        return nn.Sequential(conv, nn.MaxPool2d(2), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))
    return nn.Sequential(conv, nn.BatchNorm2d(cout), nn.ReLU(inplace=True), nn.MaxPool2d(2))


def net(widths, pool_first):
    w0, w1, w2 = widths
    return nn.Sequential(block(1, w0, pool_first), block(w0, w1, pool_first), block(w1, w2, pool_first),
                         nn.Flatten(), nn.Linear(w2 * 9, 10))


def throughput(model, batch=512, steps=8):
    model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    x, y = torch.rand(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
    for i in range(steps + 3):
        if i == 3:
            t = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    train = steps * batch / (time.perf_counter() - t)
    model.eval()
    xe = torch.rand(2048, 1, 28, 28)
    with torch.inference_mode():
        model(xe)
        t = time.perf_counter()
        for _ in range(3):
            model(xe)
    return train, 3 * 2048 / (time.perf_counter() - t)


rows = []
for widths in [(16, 32, 64), (24, 48, 96), (32, 64, 128)]:
    for pool_first in (True, False):
        torch.manual_seed(0)
        tr, ev = throughput(net(widths, pool_first))
        rows.append({"widths": "-".join(map(str, widths)), "order": "conv-pool-BN-ReLU" if pool_first else
                     "conv-BN-ReLU-pool", "train_images_per_s": tr, "eval_images_per_s": ev})
print(table(rows))
save_results("arch", rows)
