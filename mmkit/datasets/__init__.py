"""Data sets generated offline for the lessons, the tests, the benches and the embedded models' training.

One module per kind of data, named by what it generates; import the one you need (nothing is loaded here):

* :mod:`mmkit.datasets.shapes`: coloured shapes paired with short texts (and tones), whose labels need both
  modalities (``ShapesColorsDataset``, ``make_collate``).
* :mod:`mmkit.datasets.topics`: the bilingual 8-topic sentence set under ``data/topics/`` (``load_topics``;
  rebuilt by ``python -m mmkit.datasets.topics --build``).
* :mod:`mmkit.datasets.emoji`: rendered emoji glyphs with English and Chinese captions (``EmojiImageText``).
* :mod:`mmkit.datasets.spoken_digits`: the digits "zero" .. "nine" spoken by espeak-ng (``spoken_digits``).
* :mod:`mmkit.datasets.haystack`: needle-in-a-haystack documents for long-text QA (``make_haystack``).
"""
