import numpy as np
import pytest

from mmkit.datasets.spoken_digits import DIGITS, SAMPLE_RATE, espeak_path, spoken_digits, synthesize
from mmkit.errors import InputError

pytestmark = pytest.mark.skipif(espeak_path() is None, reason="espeak-ng is not installed: apt-get install espeak-ng")


def test_synthesis_is_audio_and_deterministic():
    wave = synthesize("seven", "en-us", 150)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert 0.2 * SAMPLE_RATE < len(wave) < 2 * SAMPLE_RATE  # one word: a fraction of a second to a second or so
    assert 0.05 < np.abs(wave).max() <= 1.0
    np.testing.assert_array_equal(wave, synthesize("seven", "en-us", 150))


def test_voice_speed_and_pitch_change_the_waveform():
    base = synthesize("three", "en-us", 150)
    assert len(synthesize("three", "en-us", 300)) < 0.8 * len(base)  # faster speech, fewer samples
    other = synthesize("three", "en-gb-scotland+f3", 150)
    n = min(len(base), len(other))
    assert not np.allclose(base[:n], other[:n], atol=1e-3)


def test_spoken_digits_covers_every_combination_in_order():
    data = spoken_digits(["en-us", "en-gb+f3"], [140, 220])
    assert len(data) == 2 * 2 * len(DIGITS)
    assert [d.label for d in data[:10]] == list(range(10))
    assert {(d.voice, d.speed) for d in data} == {(v, s) for v in ("en-us", "en-gb+f3") for s in (140, 220)}


@pytest.mark.parametrize("voice", ["-x", "en us", "en;rm", ""])
def test_bad_voice_is_an_input_error(voice):
    with pytest.raises(InputError, match="voice"):
        synthesize("one", voice)


def test_bad_text_and_ranges_are_input_errors():
    with pytest.raises(InputError, match="empty"):
        synthesize("   ")
    with pytest.raises(InputError, match="speed"):
        synthesize("one", speed=5)
