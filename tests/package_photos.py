"""Real photos that ship inside installed packages (gradio, scikit-learn, matplotlib): name -> path, or None when
the package is not installed. Credits: china.jpg and flower.jpg are CC-BY 2.0 (attribution in scikit-learn's
datasets/images/README.txt); grace_hopper.jpg is a US Navy photograph (public domain); cheetah.jpg, lion.jpg and
tower.jpg come with gradio's media_assets, which state no licence of their own (gradio is Apache-2.0)."""

import importlib.util
from pathlib import Path


def package_file(package: str, *parts: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent.joinpath(*parts)
    return path if path.is_file() else None


PHOTOS = {
    "cheetah": package_file("gradio", "media_assets", "images", "cheetah.jpg"),
    "lion": package_file("gradio", "media_assets", "images", "lion.jpg"),
    "tower": package_file("gradio", "media_assets", "images", "tower.jpg"),
    "china": package_file("sklearn", "datasets", "images", "china.jpg"),
    "flower": package_file("sklearn", "datasets", "images", "flower.jpg"),
    "grace_hopper": package_file("matplotlib", "mpl-data", "sample_data", "grace_hopper.jpg"),
}
