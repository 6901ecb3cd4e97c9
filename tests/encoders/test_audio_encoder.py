"""Audio: the log-mel spectrogram against transformers' numpy reference and a 1 kHz tone, and AudioEncoder's
frame masks, padding invariance and gradients."""

import numpy as np
import pytest
import torch
from transformers.audio_utils import hertz_to_mel, spectrogram, window_function

from mmkit.encoders import AudioEncoder, log_mel_spectrogram, mel_filters
from mmkit.errors import InputError

SR = 16000


def tone(freq: float, seconds: float) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_shape_for_one_and_many_waveforms():
    assert log_mel_spectrogram(tone(440, 1.0)).shape == (1, 64, 101)  # 1 + 16000 // 160
    batch = torch.stack([torch.from_numpy(tone(440, 0.5)), torch.zeros(8000)])
    assert log_mel_spectrogram(batch, n_mels=40).shape == (2, 40, 51)
    with pytest.raises(InputError):
        log_mel_spectrogram(np.zeros((2, 3, 4)))


def test_1khz_tone_lands_in_the_1khz_mel_band():
    n_mels = 64
    energy = log_mel_spectrogram(tone(1000, 0.5), n_mels=n_mels)[0].mean(-1)  # (n_mels,)
    # Band centres sit evenly on the (Slaney) mel scale between 0 Hz and Nyquist.
    centres = np.linspace(hertz_to_mel(0.0, "slaney"), hertz_to_mel(SR / 2, "slaney"), n_mels + 2)[1:-1]
    expected = int(np.argmin(np.abs(centres - hertz_to_mel(1000.0, "slaney"))))
    assert int(energy.argmax()) == expected
    assert float(energy[expected] - energy.median()) > 3  # three decades above the typical band


def test_matches_transformers_numpy_spectrogram():
    rng = np.random.default_rng(0)
    wave = (tone(300, 0.3) + 0.1 * rng.standard_normal(int(SR * 0.3))).astype(np.float32)
    reference = spectrogram(
        wave,
        window_function(400, "hann"),
        frame_length=400,
        hop_length=160,
        power=2.0,
        center=True,
        pad_mode="constant",
        mel_filters=mel_filters(SR, 400, 64).numpy(),
        mel_floor=1e-10,
        log_mel="log10",
    )
    ours = log_mel_spectrogram(wave)[0].numpy()
    assert ours.shape == reference.shape
    assert np.abs(ours - reference).max() < 1e-4


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return AudioEncoder(dim=32, n_mels=64, n_heads=2, num_layers=2).eval()


def test_preprocess_masks_padding_frames(encoder):
    batch = encoder.preprocess([tone(440, 1.0), torch.from_numpy(tone(880, 0.5)), tone(220, 0.01)])
    assert batch["input_features"].shape == (3, 64, 101)
    assert batch["feature_mask"].sum(1).tolist() == [101, 51, 2]
    out = encoder(**batch)
    # two stride-2 convs: ceil(ceil(F / 2) / 2) tokens
    assert out.tokens.shape == (3, 26, 32) and out.mask.sum(1).tolist() == [26, 13, 1]
    assert out.mask[1, :13].all() and not out.mask[1, 13:].any()


def test_padding_does_not_change_a_clip(encoder):
    short = tone(660, 0.33)
    alone = encoder.encode([short])
    batched = encoder.encode([short, tone(440, 1.2)])
    n = alone.tokens.shape[1]
    assert batched.tokens.shape[1] > n
    assert torch.allclose(alone.pooled[0], batched.pooled[0], atol=1e-5)
    assert torch.allclose(alone.tokens[0], batched.tokens[0, :n], atol=1e-5)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    enc = AudioEncoder(dim=32, n_mels=40, n_heads=2, num_layers=1)
    out = enc.encode([tone(500, 0.2), tone(1500, 0.1)])
    loss = (out.tokens * torch.randn_like(out.tokens)).sum() + (
        out.pooled * torch.randn_like(out.pooled)
    ).sum()
    loss.backward()
    assert [n for n, p in enc.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0] == []


@pytest.mark.parametrize("bad", [[], [np.zeros((2, 100))], [np.zeros(0)]])
def test_bad_waveforms_are_input_errors(encoder, bad):
    with pytest.raises(InputError):
        encoder.preprocess(bad)
