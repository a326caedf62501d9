"""Self-supervised pretraining by masked atom and bond attribute reconstruction.

Hu et al., "Strategies for Pre-training Graph Neural Networks", ICLR 2020 (attribute masking),
on a Graphormer encoder: masked atoms and bonds are hidden from the model's input, heads on the
token vectors reconstruct every categorical OGB feature, and the encoder's weights then start
finetuning through ``model.init_from``.
"""
