"""Assignment 6: a gated multimodal unit (GMU) that fuses an image vector and a text vector."""

import torch
from torch import nn


class GatedFusion(nn.Module):
    """image (B, d_image), text (B, d_text) -> (logits (B, num_classes), gate (B, d_model)).

    h_image = tanh(image_proj(image)), h_text = tanh(text_proj(text))           each (B, d_model)
    z = sigmoid(gate_proj([image; text]))                                         (B, d_model), in (0, 1)
    h = z * h_image + (1 - z) * h_text;  logits = head(h)
    With text=None (a missing modality) z is 1 everywhere: the image alone decides.
    """

    def __init__(self, d_image, d_text, d_model, num_classes):
        super().__init__()
        self.image_proj = nn.Linear(d_image, d_model)
        self.text_proj = nn.Linear(d_text, d_model)
        self.gate_proj = nn.Linear(d_image + d_text, d_model)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, image, text=None):
        # BEGIN SOLUTION
        h_image = torch.tanh(self.image_proj(image))
        if text is None:
            return self.head(h_image), torch.ones_like(h_image)
        h_text = torch.tanh(self.text_proj(text))
        z = torch.sigmoid(self.gate_proj(torch.cat([image, text], dim=-1)))
        return self.head(z * h_image + (1 - z) * h_text), z
        # END SOLUTION
