"""Render the example pictures the apps and notebooks show (run: python data/examples/make_images.py).

Single glyphs on white, 128 px, plus two composites; from Noto Color Emoji through mmkit.datasets.emoji.
"""

from pathlib import Path

from mmkit.datasets.emoji import EmojiImageText

NAMES = [
    "red apple", "dog face", "cat face", "pizza", "rocket", "birthday cake", "grinning face", "banana",
    "automobile", "bicycle", "sun", "snowflake", "tiger face", "hamburger", "soccer ball", "guitar",
    "house", "laptop", "cherries", "fish", "airplane", "watermelon", "rabbit face", "umbrella",
]
COMPOSITES = [["dog face", "red apple"], ["rocket", "sun", "banana"]]


def main() -> None:
    out = Path(__file__).resolve().parent / "images"
    out.mkdir(exist_ok=True)
    data = EmojiImageText(split="all", size=128, clean=True)
    for name in NAMES:
        data.clean_image(data.index_of(name)).save(out / f"{name.replace(' ', '_')}.png", optimize=True)
    for i, names in enumerate(COMPOSITES, start=1):
        data.render([data.index_of(n) for n in names]).image.save(out / f"composite_{i}.png", optimize=True)


if __name__ == "__main__":
    main()
