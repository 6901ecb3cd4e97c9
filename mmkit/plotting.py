"""Figures the course draws in more than one chapter, labelled in Chinese.

:func:`use_cjk_font` points matplotlib at Noto Sans CJK (Debian ``fonts-noto-cjk``, installed by ``make
system-deps``), so titles and axis labels may be written in Chinese. :func:`plot_history` draws a training
history (the DataFrame :func:`mmkit.training.fit` returns); :func:`plot_confusion` a confusion matrix.
matplotlib is imported only when a function is called (it comes with the ``course`` extra).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/System/Library/Fonts/PingFang.ttc",
)


def cjk_font_path() -> Path | None:
    """The first CJK font found: ``$MMKIT_CJK_FONT`` if set, else the usual Noto Sans CJK places; None if
    none."""
    candidates = [os.environ["MMKIT_CJK_FONT"]] if os.environ.get("MMKIT_CJK_FONT") else list(CJK_FONTS)
    return next((Path(p) for p in candidates if Path(p).is_file()), None)


def use_cjk_font() -> str | None:
    """Make matplotlib draw text with a CJK font; returns its family name, or None (a warning printed) if
    there is none, in which case Chinese characters show as empty boxes and the figures are otherwise
    unchanged."""
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    path = cjk_font_path()
    if path is None:
        print("No CJK font found: install fonts-noto-cjk (make system-deps) or set MMKIT_CJK_FONT.")
        return None
    font_manager.fontManager.addfont(str(path))
    family = font_manager.FontProperties(fname=path).get_name()
    plt.rcParams["font.family"] = family
    plt.rcParams["axes.unicode_minus"] = False  # CJK fonts lack U+2212; draw the minus sign as a hyphen
    return family


def plot_history(history, title: str, ax) -> None:
    """Per-epoch training and test loss on ``ax``, test accuracy on a second axis.

    history: a DataFrame indexed by epoch with ``train_loss``, ``eval_loss`` and ``eval_accuracy`` columns.
    """
    ax.plot(history.index, history["train_loss"], marker="o", label="训练损失")
    ax.plot(history.index, history["eval_loss"], marker="o", label="测试损失")
    ax.set_xlabel("轮次")
    ax.set_ylabel("损失")
    acc = ax.twinx()
    acc.plot(history.index, history["eval_accuracy"], marker="s", color="green", label="测试准确率")
    acc.set_ylim(0, 1.02)
    acc.set_ylabel("准确率", color="green")
    ax.set_title(title, fontsize=10)
    lines = ax.get_lines() + acc.get_lines()
    ax.legend(lines, [line.get_label() for line in lines], fontsize=8, loc="center right")


def plot_confusion(cm, names, title: str, ax) -> None:
    """A confusion matrix ``cm`` (C, C), row = true class, column = predicted class, counts written in the
    cells."""
    cm = np.asarray(cm)
    ax.imshow(cm, cmap="Blues")
    for (i, j), n in np.ndenumerate(cm):
        if n:
            ax.text(
                j,
                i,
                n,
                ha="center",
                va="center",
                fontsize=7 if len(names) > 8 else 9,
                color="white" if n > cm.max() / 2 else "black",
            )
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel("预测类别")
    ax.set_ylabel("真实类别")
    ax.set_title(title, fontsize=10)
