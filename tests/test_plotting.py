import numpy as np
import pandas as pd
import pytest

from mmkit import plotting

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def test_use_cjk_font_sets_a_family_that_draws_chinese(monkeypatch):
    path = plotting.cjk_font_path()
    if path is None:
        pytest.skip("no CJK font installed (fonts-noto-cjk)")
    family = plotting.use_cjk_font()
    assert plt.rcParams["font.family"] == [family]
    from matplotlib import font_manager

    found = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
    assert found == str(path)


def test_use_cjk_font_without_a_font_says_what_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MMKIT_CJK_FONT", str(tmp_path / "missing.ttc"))
    assert plotting.cjk_font_path() is None
    assert plotting.use_cjk_font() is None
    assert "fonts-noto-cjk" in capsys.readouterr().out


def test_plot_history_and_confusion_draw_the_numbers_given():
    history = pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.5], "eval_loss": [1.2, 0.7],
                            "eval_accuracy": [0.4, 0.8]}).set_index("epoch")
    fig, (left, right) = plt.subplots(1, 2)
    plotting.plot_history(history, "历史", left)
    lines = {line.get_label(): line.get_ydata().tolist() for ax in fig.axes for line in ax.get_lines()}
    assert lines == {"训练损失": [1.0, 0.5], "测试损失": [1.2, 0.7], "测试准确率": [0.4, 0.8]}
    cm = np.array([[3, 1], [0, 4]])
    plotting.plot_confusion(cm, ["猫", "狗"], "混淆矩阵", right)
    assert sorted(t.get_text() for t in right.texts) == ["1", "3", "4"]  # zero cells stay empty
    assert [t.get_text() for t in right.get_xticklabels()] == ["猫", "狗"]
    plt.close(fig)
