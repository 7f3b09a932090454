"""SASRec in PyTorch exactly as A-LLMRec uses it: pmixer/SASRec.pytorch model.py @ 30c43cf
(= ghdtjr/A-LLMRec pre_train/sasrec/model.py), written from that file.

Shared by scripts/make-sasrec-fixtures.py and scripts/bench-sasrec.py. Module and parameter names
match the original, so `state_dict()` has the checkpoint's keys. The original's quirks are kept on
purpose: only the attention query is layer-normed and the residual adds that normed query; no key
padding mask (real positions attend to padded slots, whose keys and values are the biases); item
embeddings are scaled by sqrt(d); positions are slot indices of the left-padded sequence; padded rows
of `log_feats` are `last_layernorm.bias`.

Inputs are LongTensors [B, maxlen], left-padded with item 0 (the original takes numpy arrays and
converts them; the computation is the same).
"""

import argparse

import torch


class PointWiseFeedForward(torch.nn.Module):
    """conv1 -> dropout -> ReLU -> conv2 -> dropout, plus the input (residual from the LN output)."""

    def __init__(self, hidden_units: int, dropout_rate: float):
        super().__init__()
        self.conv1 = torch.nn.Conv1d(hidden_units, hidden_units, kernel_size=1)
        self.dropout1 = torch.nn.Dropout(p=dropout_rate)
        self.relu = torch.nn.ReLU()
        self.conv2 = torch.nn.Conv1d(hidden_units, hidden_units, kernel_size=1)
        self.dropout2 = torch.nn.Dropout(p=dropout_rate)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        # Conv1d wants (N, C, L).
        outputs = self.dropout2(self.conv2(self.relu(self.dropout1(self.conv1(inputs.transpose(-1, -2))))))
        return outputs.transpose(-1, -2) + inputs


class SASRec(torch.nn.Module):
    def __init__(self, user_num: int, item_num: int, args: argparse.Namespace):
        super().__init__()
        self.user_num = user_num
        self.item_num = item_num
        d = args.hidden_units
        # Registration order fixes the state-dict order; it is the original's.
        self.item_emb = torch.nn.Embedding(item_num + 1, d, padding_idx=0)
        self.pos_emb = torch.nn.Embedding(args.maxlen, d)
        self.emb_dropout = torch.nn.Dropout(p=args.dropout_rate)
        self.attention_layernorms = torch.nn.ModuleList()
        self.attention_layers = torch.nn.ModuleList()
        self.forward_layernorms = torch.nn.ModuleList()
        self.forward_layers = torch.nn.ModuleList()
        self.last_layernorm = torch.nn.LayerNorm(d, eps=1e-8)
        for _ in range(args.num_blocks):
            self.attention_layernorms.append(torch.nn.LayerNorm(d, eps=1e-8))
            self.attention_layers.append(torch.nn.MultiheadAttention(d, args.num_heads, args.dropout_rate))
            self.forward_layernorms.append(torch.nn.LayerNorm(d, eps=1e-8))
            self.forward_layers.append(PointWiseFeedForward(d, args.dropout_rate))

    def log2feats(self, log_seqs: torch.Tensor) -> torch.Tensor:
        """[B, L] item ids -> [B, L, d]."""
        seqs = self.item_emb(log_seqs) * self.item_emb.embedding_dim ** 0.5
        positions = torch.arange(log_seqs.shape[1], device=log_seqs.device)
        seqs = self.emb_dropout(seqs + self.pos_emb(positions))
        keep = (log_seqs != 0).unsqueeze(-1).to(seqs.dtype)
        seqs = seqs * keep
        length = seqs.shape[1]
        causal = ~torch.tril(torch.ones((length, length), dtype=torch.bool, device=seqs.device))
        for attn_ln, attn, fwd_ln, fwd in zip(
                self.attention_layernorms, self.attention_layers, self.forward_layernorms, self.forward_layers):
            seqs = seqs.transpose(0, 1)  # MultiheadAttention is sequence-first
            q = attn_ln(seqs)
            mha_outputs, _ = attn(q, seqs, seqs, attn_mask=causal, need_weights=False)
            seqs = (q + mha_outputs).transpose(0, 1)
            seqs = fwd(fwd_ln(seqs)) * keep
        return self.last_layernorm(seqs)

    def forward(self, log_seqs: torch.Tensor, pos_seqs: torch.Tensor, neg_seqs: torch.Tensor):
        """Training: -> (log_feats [B, L, d], pos_logits [B, L], neg_logits [B, L])."""
        log_feats = self.log2feats(log_seqs)
        pos_logits = (log_feats * self.item_emb(pos_seqs)).sum(dim=-1)
        neg_logits = (log_feats * self.item_emb(neg_seqs)).sum(dim=-1)
        return log_feats, pos_logits, neg_logits

    def user_representation(self, log_seqs: torch.Tensor) -> torch.Tensor:
        """A-LLMRec's `mode='log_only'`: [B, L] -> the last slot's features [B, d]."""
        return self.log2feats(log_seqs)[:, -1, :]


def make_args(hidden_units=50, num_blocks=2, num_heads=1, maxlen=50, dropout_rate=0.5) -> argparse.Namespace:
    """The `args` the original pickles into its checkpoint (A-LLMRec's defaults)."""
    return argparse.Namespace(
        hidden_units=hidden_units, num_blocks=num_blocks, num_heads=num_heads, maxlen=maxlen,
        dropout_rate=dropout_rate, l2_emb=0.0, device="cpu")


def init_like_original(model: SASRec) -> None:
    """main.py: xavier_normal_ on every parameter it accepts (all >= 2-D ones, padding row 0 of
    item_emb included); 1-D parameters keep torch's defaults."""
    for param in model.parameters():
        if param.dim() >= 2:
            torch.nn.init.xavier_normal_(param.data)


def sasrec_loss(pos_logits: torch.Tensor, neg_logits: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """BCE-with-logits averaged over positions with pos != 0, positive and negative terms added."""
    valid = pos != 0
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    return (bce(pos_logits[valid], torch.ones_like(pos_logits[valid]))
            + bce(neg_logits[valid], torch.zeros_like(neg_logits[valid])))
