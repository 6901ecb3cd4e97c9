"""Write each assignment's student notebook from its reference solution (run: python course/assignments/build.py).

Code between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` in ``solution.py`` becomes
``raise NotImplementedError  # 在这里写你的代码``; the graded cell is tagged ``graded`` so that ``grade.py`` exports
only that cell. Teachers edit ``solution.py`` and re-run this script; they never edit two copies.
"""

import re
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
BLANK = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION\n.*?^[ \t]*# END SOLUTION\n", re.S | re.M)

INTRO = {
    "01_attention": (
        "作业 1：缩放点积注意力",
        "实现 $\\mathrm{Attention}(Q,K,V)=\\mathrm{softmax}(QK^\\top/\\sqrt{d_k}+M)V$，同时返回输出和注意力权重。"
        "`mask` 为布尔张量，`True` 表示允许关注。",
    ),
    "02_causal_multihead": (
        "作业 2：带因果掩码的多头自注意力",
        "先实现因果掩码（下三角），再把输入投影为 Q、K、V，拆成多个头，分别做缩放点积注意力，拼接后经过输出投影。"
        "结果要与 `torch.nn.MultiheadAttention` 在相同权重下一致。",
    ),
    "03_late_fusion": (
        "作业 3：决策级（后期）融合",
        "每个模态给出一组 logits $z_i$，融合结果为 $P=\\mathrm{softmax}(\\sum_i w_i z_i)$，权重先归一化为和为 1；"
        "缺失的模态（`None`）要被丢弃，剩余权重重新归一化。",
    ),
    "04_info_nce": (
        "作业 4：对称 InfoNCE 对比损失",
        "把图像与文本向量做 L2 归一化，相似度除以温度得到 logits，对“图像找文本”和“文本找图像”两个方向分别求交叉熵，"
        "再取平均。",
    ),
    "05_chunking": (
        "作业 5：带偏移量的滑动窗口切分",
        "长文本要切成重叠的窗口才能交给模型阅读。返回每个窗口在原文中的起止字符位置，保证 `text[start:end] == chunk`，"
        "最后一个窗口结束于文本末尾。",
    ),
}


def student_source(solution: str) -> str:
    return BLANK.sub(lambda m: f"{m['indent']}raise NotImplementedError  # 在这里写你的代码\n", solution)


def build(assignment: Path) -> Path:
    title, task = INTRO[assignment.name]
    code = student_source((assignment / "solution.py").read_text(encoding="utf-8"))
    graded = nbformat.v4.new_code_cell(code)
    graded.metadata["tags"] = ["graded"]
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell(f"# {title}\n\n{task}\n\n"
                                      "只修改带 `raise NotImplementedError` 的地方，不要改函数名和参数。"
                                      "写完后在仓库根目录运行：\n\n"
                                      f"```bash\nmake grade ASSIGNMENT={assignment.name}\n```\n\n"
                                      "它会运行公开测试并给出得分。"),
        graded,
        nbformat.v4.new_markdown_cell("## 自己试一试\n\n在下面的单元格里调用你的函数，观察输出。"),
        nbformat.v4.new_code_cell(""),
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = assignment / "student.ipynb"
    nbformat.write(notebook, path)
    return path


if __name__ == "__main__":
    for name in INTRO:
        print(build(HERE / name))
