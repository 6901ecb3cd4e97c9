import torch
from submission import build_vocab, featurize, predict, train_classifier

TOY = ["the team won the match", "a goal in the last minute", "球队赢了比赛", "他踢进了一个球",
       "the stock market fell", "interest rates went up", "股市下跌了", "银行提高了利率"]
TOY_LABELS = [0, 0, 0, 0, 1, 1, 1, 1]


def test_features_are_unit_rows():
    vocab = build_vocab(TOY)
    x = featurize(TOY + ["@@@"], vocab)
    assert x.shape == (9, len(vocab)) and x.dtype == torch.float32
    assert torch.allclose(x[:8].norm(dim=1), torch.ones(8), atol=1e-5)
    assert torch.equal(x[8], torch.zeros(len(vocab)))  # no known n-gram


def test_log_counts():
    vocab = {"a": 0, "b": 1}
    x = featurize(["aab"], vocab)
    expected = torch.log1p(torch.tensor([2.0, 1.0]))
    assert torch.allclose(x[0], expected / expected.norm(), atol=1e-6)


def test_fits_a_toy_set():
    model, vocab = train_classifier(TOY, TOY_LABELS, num_classes=2, epochs=30)
    predicted = predict(model, vocab, TOY)
    assert predicted.dtype == torch.long and predicted.shape == (8,)
    assert predicted.tolist() == TOY_LABELS
