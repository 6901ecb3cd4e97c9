"""The Gradio app with its real embedded reader (the 1.5B Qwen reader), end to end: slow (the reader loads in
20-40 s and reads a question in 10-40 s on 2 cores). Run with ``make test-slow``."""

import pytest

gradio_client = pytest.importorskip("gradio_client")

from app_server import bench_load  # noqa: E402

from mmkit.models import is_ready  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not is_ready("qwen-reader"), reason="the embedded reader's wheels are not installed"),
]


@pytest.fixture(scope="module")
def real_client(tmp_path_factory):
    process, url = bench_load.start_app(tmp_path_factory.mktemp("real") / "server.log")  # apps/gradio_app.py as is
    try:
        yield gradio_client.Client(url, verbose=False)
    finally:
        bench_load.stop_app(process)


def test_the_app_answers_with_the_embedded_reader_and_highlights_the_evidence(real_client):
    document = ("The Harbour Trust runs the lighthouse tours on weekends.\n\n"
                "The lighthouse on Wyke Island was built by Margaret Olsen in 1884. It is 31 metres tall.")
    answer, highlighted = real_client.predict(document, None, "Who built the lighthouse on Wyke Island?", "", "none",
                                              "en", api_name="/answer")
    assert "Margaret Olsen" in answer
    evidence = [part["token"] for part in highlighted if part.get("class_or_confidence") == "evidence"]
    assert evidence == ["The lighthouse on Wyke Island was built by Margaret Olsen in 1884."]
    answer, highlighted = real_client.predict(document, None, "Who painted the lighthouse?", "", "none", "en",
                                              api_name="/answer")
    assert answer == "Not in the document."
